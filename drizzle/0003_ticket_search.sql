-- Full-text search over tickets (subject and description) and their comments, kept in step by triggers, and the index
-- a status + updated_at sync walks. FTS5 holds one row per text: the ticket's own (subject, description) and one per
-- comment that is not redacted. A text's rowid is its ticket's number in ticket_search_tickets times 2^20, plus 0 for
-- the ticket's own text or the comment's turn (1, 2, …): searches find, count and group tickets from the rowids alone.
-- ticket_search is contentless (it stores no text; contentless_delete lets triggers delete by rowid); its `org`
-- column holds the organization's id without its underscore (one token), so every query intersects the organization
-- with each word. Tokenizer: unicode61 without diacritics removal; the query side and PostgreSQL
-- (0006_ticket_search.sql) tokenize by its tables (src/tickets/search-text-tables.ts). A ticket's comments past its
-- 1,048,575th are not indexed.
CREATE TABLE `ticket_search_tickets` (
	`num` integer PRIMARY KEY NOT NULL,
	`ticket_id` text NOT NULL,
	`org_id` text NOT NULL,
	`last_text` integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `ticket_search_tickets_ticket` ON `ticket_search_tickets` (`ticket_id`);--> statement-breakpoint
CREATE TABLE `ticket_search_comments` (
	`comment_id` text PRIMARY KEY NOT NULL,
	`text_id` integer NOT NULL
) WITHOUT ROWID;
--> statement-breakpoint
CREATE INDEX `ticket_search_comments_text` ON `ticket_search_comments` (`text_id`);--> statement-breakpoint
CREATE VIRTUAL TABLE `ticket_search` USING fts5(org, subject, body, content='', contentless_delete=1, tokenize='unicode61 remove_diacritics 0');
--> statement-breakpoint
CREATE TRIGGER `ticket_search_ticket_insert` AFTER INSERT ON `tickets` BEGIN
	INSERT INTO ticket_search_tickets (ticket_id, org_id) VALUES (NEW.id, NEW.org_id);
	INSERT INTO ticket_search (rowid, org, subject, body) VALUES (last_insert_rowid() * 1048576, replace(NEW.org_id, '_', ''), NEW.subject, NEW.description);
END;
--> statement-breakpoint
CREATE TRIGGER `ticket_search_ticket_update` AFTER UPDATE OF subject, description ON `tickets`
WHEN OLD.subject IS NOT NEW.subject OR OLD.description IS NOT NEW.description BEGIN
	DELETE FROM ticket_search WHERE rowid = (SELECT num * 1048576 FROM ticket_search_tickets WHERE ticket_id = NEW.id);
	INSERT INTO ticket_search (rowid, org, subject, body)
		SELECT num * 1048576, replace(NEW.org_id, '_', ''), NEW.subject, NEW.description FROM ticket_search_tickets WHERE ticket_id = NEW.id;
END;
--> statement-breakpoint
CREATE TRIGGER `ticket_search_ticket_delete` AFTER DELETE ON `tickets` BEGIN
	DELETE FROM ticket_search WHERE rowid BETWEEN (SELECT num * 1048576 FROM ticket_search_tickets WHERE ticket_id = OLD.id)
		AND (SELECT num * 1048576 + 1048575 FROM ticket_search_tickets WHERE ticket_id = OLD.id);
	DELETE FROM ticket_search_comments WHERE text_id BETWEEN (SELECT num * 1048576 FROM ticket_search_tickets WHERE ticket_id = OLD.id)
		AND (SELECT num * 1048576 + 1048575 FROM ticket_search_tickets WHERE ticket_id = OLD.id);
	DELETE FROM ticket_search_tickets WHERE ticket_id = OLD.id;
END;
--> statement-breakpoint
CREATE TRIGGER `ticket_search_comment_insert` AFTER INSERT ON `comments` WHEN NEW.redacted_at IS NULL BEGIN
	UPDATE ticket_search_tickets SET last_text = last_text + 1 WHERE ticket_id = NEW.ticket_id AND last_text < 1048575;
	INSERT INTO ticket_search_comments (comment_id, text_id)
		SELECT NEW.id, num * 1048576 + last_text FROM ticket_search_tickets s WHERE ticket_id = NEW.ticket_id
		AND NOT EXISTS (SELECT 1 FROM ticket_search_comments WHERE text_id = s.num * 1048576 + s.last_text);
	INSERT INTO ticket_search (rowid, org, subject, body)
		SELECT text_id, replace(NEW.org_id, '_', ''), NULL, NEW.body FROM ticket_search_comments WHERE comment_id = NEW.id;
END;
--> statement-breakpoint
CREATE TRIGGER `ticket_search_comment_update` AFTER UPDATE OF body, redacted_at ON `comments`
WHEN OLD.body IS NOT NEW.body OR OLD.redacted_at IS NOT NEW.redacted_at BEGIN
	DELETE FROM ticket_search WHERE rowid = (SELECT text_id FROM ticket_search_comments WHERE comment_id = OLD.id);
	DELETE FROM ticket_search_comments WHERE comment_id = OLD.id AND NEW.redacted_at IS NOT NULL;
	INSERT INTO ticket_search (rowid, org, subject, body)
		SELECT text_id, replace(NEW.org_id, '_', ''), NULL, NEW.body FROM ticket_search_comments WHERE comment_id = NEW.id;
END;
--> statement-breakpoint
CREATE TRIGGER `ticket_search_comment_delete` AFTER DELETE ON `comments` BEGIN
	DELETE FROM ticket_search WHERE rowid = (SELECT text_id FROM ticket_search_comments WHERE comment_id = OLD.id);
	DELETE FROM ticket_search_comments WHERE comment_id = OLD.id;
END;
--> statement-breakpoint
INSERT INTO ticket_search_tickets (ticket_id, org_id) SELECT id, org_id FROM tickets ORDER BY created_at, id;--> statement-breakpoint
INSERT INTO ticket_search (rowid, org, subject, body)
	SELECT s.num * 1048576, replace(t.org_id, '_', ''), t.subject, t.description FROM ticket_search_tickets s JOIN tickets t ON t.id = s.ticket_id;--> statement-breakpoint
INSERT INTO ticket_search_comments (comment_id, text_id)
	SELECT c.id, s.num * 1048576 + row_number() OVER (PARTITION BY c.ticket_id ORDER BY c.created_at, c.id)
	FROM comments c JOIN ticket_search_tickets s ON s.ticket_id = c.ticket_id WHERE c.redacted_at IS NULL;--> statement-breakpoint
UPDATE ticket_search_tickets SET last_text = (SELECT COUNT(*) FROM ticket_search_comments c WHERE c.text_id BETWEEN ticket_search_tickets.num * 1048576 AND ticket_search_tickets.num * 1048576 + 1048575);--> statement-breakpoint
INSERT INTO ticket_search (rowid, org, subject, body)
	SELECT m.text_id, replace(c.org_id, '_', ''), NULL, c.body FROM ticket_search_comments m JOIN comments c ON c.id = m.comment_id;--> statement-breakpoint
CREATE INDEX `tickets_org_status_updated` ON `tickets` (`org_id`,`status`,`updated_at`,`id`);
