ALTER TABLE `jobs` ADD `worker` text;--> statement-breakpoint
CREATE INDEX `jobs_worker_rtf` ON `jobs` (`worker`,`rtf`,`created_at`);
