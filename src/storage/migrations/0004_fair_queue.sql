CREATE INDEX `jobs_user_started` ON `jobs` (`user_id`,`started_at`);
