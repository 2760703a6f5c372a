CREATE INDEX `jobs_user_started` ON `jobs` (`user_id`,`started_at`);--> statement-breakpoint
CREATE TABLE `inbox_updates` (
	`update_id` integer PRIMARY KEY NOT NULL,
	`payload` text NOT NULL,
	`received_at` integer NOT NULL
);
