CREATE TABLE `chat_settings` (
	`chat_id` integer PRIMARY KEY NOT NULL,
	`group_mode` text DEFAULT 'all' NOT NULL
);
--> statement-breakpoint
CREATE TABLE `jobs` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`update_id` integer,
	`chat_id` integer NOT NULL,
	`chat_type` text NOT NULL,
	`message_id` integer NOT NULL,
	`user_id` integer NOT NULL,
	`file_id` text NOT NULL,
	`file_unique_id` text NOT NULL,
	`media_kind` text NOT NULL,
	`file_size` integer,
	`claimed_seconds` real,
	`requested_language` text,
	`task` text DEFAULT 'transcribe' NOT NULL,
	`timestamps` integer DEFAULT false NOT NULL,
	`ui_language` text DEFAULT 'en' NOT NULL,
	`status_message_id` integer,
	`status` text DEFAULT 'queued' NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`lease_until` integer,
	`created_at` integer NOT NULL,
	`started_at` integer,
	`finished_at` integer,
	`audio_seconds` real,
	`download_ms` real,
	`decode_ms` real,
	`queue_wait_ms` real,
	`inference_ms` real,
	`rtf` real,
	`rtf_total` real,
	`model` text,
	`language` text,
	`worker_id` integer,
	`threads` integer,
	`rss_before_mb` real,
	`rss_after_mb` real,
	`heap_before_mb` real,
	`heap_after_mb` real,
	`rss_peak_mb` real,
	`transcript` text,
	`from_cache` integer DEFAULT false NOT NULL,
	`error_code` text,
	`error_detail` text
);
--> statement-breakpoint
CREATE UNIQUE INDEX `jobs_chat_message` ON `jobs` (`chat_id`,`message_id`);--> statement-breakpoint
CREATE INDEX `jobs_status_id` ON `jobs` (`status`,`id`);--> statement-breakpoint
CREATE INDEX `jobs_file_unique` ON `jobs` (`file_unique_id`,`status`);--> statement-breakpoint
CREATE INDEX `jobs_created` ON `jobs` (`created_at`);--> statement-breakpoint
CREATE INDEX `jobs_user_created` ON `jobs` (`user_id`,`created_at`);--> statement-breakpoint
CREATE TABLE `lifecycle_events` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`at` integer NOT NULL,
	`kind` text NOT NULL,
	`detail` text
);
--> statement-breakpoint
CREATE INDEX `lifecycle_events_at` ON `lifecycle_events` (`at`);--> statement-breakpoint
CREATE TABLE `seen_updates` (
	`update_id` integer PRIMARY KEY NOT NULL,
	`seen_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `seen_updates_seen` ON `seen_updates` (`seen_at`);--> statement-breakpoint
CREATE TABLE `user_settings` (
	`user_id` integer PRIMARY KEY NOT NULL,
	`language` text,
	`translate` integer DEFAULT false NOT NULL,
	`timestamps` integer DEFAULT false NOT NULL
);
