DROP INDEX `deliveries_webhook_due`;--> statement-breakpoint
CREATE INDEX `deliveries_webhook_due` ON `webhook_deliveries` (`webhook_id`,`status`,`next_attempt_at`,`id`);