CREATE TABLE `ticket_tags` (
	`org_id` text NOT NULL,
	`tag` text NOT NULL,
	`ticket_id` text NOT NULL,
	`status` text NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`org_id`, `tag`, `ticket_id`),
	FOREIGN KEY (`org_id`) REFERENCES `orgs`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`ticket_id`) REFERENCES `tickets`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `ticket_tags_ticket` ON `ticket_tags` (`ticket_id`);--> statement-breakpoint
CREATE INDEX `ticket_tags_org_tag_created` ON `ticket_tags` (`org_id`,`tag`,`created_at`,`ticket_id`);--> statement-breakpoint
CREATE INDEX `ticket_tags_org_tag_status_updated` ON `ticket_tags` (`org_id`,`tag`,`status`,`updated_at`,`ticket_id`);--> statement-breakpoint
CREATE TABLE `contacts` (
	`id` text PRIMARY KEY NOT NULL,
	`org_id` text NOT NULL,
	`email` text,
	`email_key` text,
	`name` text,
	`name_key` text,
	`phone` text,
	`external_id` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`deleted_at` integer,
	FOREIGN KEY (`org_id`) REFERENCES `orgs`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `contacts_org_email` ON `contacts` (`org_id`,`email_key`);--> statement-breakpoint
CREATE UNIQUE INDEX `contacts_org_external` ON `contacts` (`org_id`,`external_id`);--> statement-breakpoint
CREATE INDEX `contacts_org_name` ON `contacts` (`org_id`,`name_key`);--> statement-breakpoint
CREATE INDEX `contacts_org_created` ON `contacts` (`org_id`,`created_at`,`id`);--> statement-breakpoint
CREATE TABLE `ticket_fields` (
	`id` text PRIMARY KEY NOT NULL,
	`org_id` text NOT NULL,
	`key` text NOT NULL,
	`title` text NOT NULL,
	`type` text NOT NULL,
	`options` text,
	`required` integer NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`org_id`) REFERENCES `orgs`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `ticket_fields_org_key` ON `ticket_fields` (`org_id`,`key`);--> statement-breakpoint
CREATE INDEX `ticket_fields_org_created` ON `ticket_fields` (`org_id`,`created_at`,`id`);--> statement-breakpoint
CREATE TABLE `comment_attachments` (
	`comment_id` text NOT NULL,
	`file_id` text NOT NULL,
	`position` integer NOT NULL,
	PRIMARY KEY(`comment_id`, `file_id`),
	FOREIGN KEY (`comment_id`) REFERENCES `comments`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`file_id`) REFERENCES `files`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `comment_attachments_file` ON `comment_attachments` (`file_id`);--> statement-breakpoint
CREATE TABLE `comments` (
	`id` text PRIMARY KEY NOT NULL,
	`org_id` text NOT NULL,
	`ticket_id` text NOT NULL,
	`author_id` text NOT NULL,
	`author_type` text NOT NULL,
	`body` text NOT NULL,
	`public` integer NOT NULL,
	`created_at` integer NOT NULL,
	`redacted_at` integer,
	`redacted_by` text,
	FOREIGN KEY (`org_id`) REFERENCES `orgs`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`ticket_id`) REFERENCES `tickets`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `comments_ticket_created` ON `comments` (`ticket_id`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `comments_org_created` ON `comments` (`org_id`,`created_at`,`id`);--> statement-breakpoint
ALTER TABLE `tickets` ADD `requester_id` text REFERENCES contacts(id) ON DELETE set null;--> statement-breakpoint
ALTER TABLE `tickets` ADD `assignee_id` text REFERENCES users(id) ON DELETE set null;--> statement-breakpoint
ALTER TABLE `tickets` ADD `tags` text DEFAULT '[]' NOT NULL;--> statement-breakpoint
ALTER TABLE `tickets` ADD `custom_fields` text DEFAULT '{}' NOT NULL;--> statement-breakpoint
CREATE INDEX `tickets_org_updated` ON `tickets` (`org_id`,`updated_at`,`id`);--> statement-breakpoint
CREATE INDEX `tickets_org_assignee_created` ON `tickets` (`org_id`,`assignee_id`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `tickets_org_requester_created` ON `tickets` (`org_id`,`requester_id`,`created_at`,`id`);