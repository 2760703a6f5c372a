ALTER TABLE `jobs` ADD `speech_seconds` real;--> statement-breakpoint
ALTER TABLE `jobs` ADD `vad_ms` real;