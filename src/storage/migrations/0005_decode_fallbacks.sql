ALTER TABLE `jobs` ADD `fallbacks` integer;
