ALTER TABLE `webhook_deliveries` ADD `claimed_by` text;--> statement-breakpoint
ALTER TABLE `webhook_deliveries` ADD `claimed_until` integer;--> statement-breakpoint
CREATE INDEX `deliveries_webhook_claimed` ON `webhook_deliveries` (`webhook_id`,`claimed_until`) WHERE claimed_by IS NOT NULL;