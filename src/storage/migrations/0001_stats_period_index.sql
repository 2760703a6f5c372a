DROP INDEX `jobs_created`;--> statement-breakpoint
CREATE INDEX `jobs_created_status` ON `jobs` (`created_at`,`status`);