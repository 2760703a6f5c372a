ALTER TABLE `jobs` ADD `result` text;--> statement-breakpoint
ALTER TABLE `jobs` ADD `delivered_pieces` integer DEFAULT 0 NOT NULL;
