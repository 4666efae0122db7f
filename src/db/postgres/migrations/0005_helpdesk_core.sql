-- PostgreSQL schema 0005: the same tables, columns, keys and indexes as drizzle/0002_helpdesk_core.sql (SQLite), mapped
-- as 0000 maps them: contacts, custom ticket fields, comments and their attachments, the ticket's requester, assignee,
-- tags and custom field values, and ticket_tags (one row per ticket and tag, with the ticket's status and times).

CREATE TABLE contacts (
  id text COLLATE "C" PRIMARY KEY NOT NULL,
  org_id text COLLATE "C" NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
  email text COLLATE "C",
  email_key text COLLATE "C",
  name text COLLATE "C",
  name_key text COLLATE "C",
  phone text COLLATE "C",
  external_id text COLLATE "C",
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  deleted_at bigint
);
CREATE UNIQUE INDEX contacts_org_email ON contacts (org_id, email_key);
CREATE UNIQUE INDEX contacts_org_external ON contacts (org_id, external_id);
CREATE INDEX contacts_org_name ON contacts (org_id, name_key);
CREATE INDEX contacts_org_created ON contacts (org_id, created_at, id);

CREATE TABLE ticket_fields (
  id text COLLATE "C" PRIMARY KEY NOT NULL,
  org_id text COLLATE "C" NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
  key text COLLATE "C" NOT NULL,
  title text COLLATE "C" NOT NULL,
  type text COLLATE "C" NOT NULL,
  options text COLLATE "C",
  -- 0 or 1, as SQLite stores drizzle's boolean mode (see webhooks.active).
  required bigint NOT NULL,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL
);
CREATE UNIQUE INDEX ticket_fields_org_key ON ticket_fields (org_id, key);
CREATE INDEX ticket_fields_org_created ON ticket_fields (org_id, created_at, id);

ALTER TABLE tickets ADD COLUMN requester_id text COLLATE "C" REFERENCES contacts (id) ON DELETE SET NULL;
ALTER TABLE tickets ADD COLUMN assignee_id text COLLATE "C" REFERENCES users (id) ON DELETE SET NULL;
ALTER TABLE tickets ADD COLUMN tags text COLLATE "C" DEFAULT '[]' NOT NULL;
ALTER TABLE tickets ADD COLUMN custom_fields text COLLATE "C" DEFAULT '{}' NOT NULL;
CREATE INDEX tickets_org_updated ON tickets (org_id, updated_at, id);
CREATE INDEX tickets_org_assignee_created ON tickets (org_id, assignee_id, created_at, id);
CREATE INDEX tickets_org_requester_created ON tickets (org_id, requester_id, created_at, id);

CREATE TABLE ticket_tags (
  org_id text COLLATE "C" NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
  tag text COLLATE "C" NOT NULL,
  ticket_id text COLLATE "C" NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
  status text COLLATE "C" NOT NULL,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  PRIMARY KEY (org_id, tag, ticket_id)
);
CREATE INDEX ticket_tags_ticket ON ticket_tags (ticket_id);
CREATE INDEX ticket_tags_org_tag_created ON ticket_tags (org_id, tag, created_at, ticket_id);
CREATE INDEX ticket_tags_org_tag_status_updated ON ticket_tags (org_id, tag, status, updated_at, ticket_id);

CREATE TABLE comments (
  id text COLLATE "C" PRIMARY KEY NOT NULL,
  org_id text COLLATE "C" NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
  ticket_id text COLLATE "C" NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
  author_id text COLLATE "C" NOT NULL,
  author_type text COLLATE "C" NOT NULL,
  body text COLLATE "C" NOT NULL,
  -- 0 or 1, as SQLite stores drizzle's boolean mode.
  public bigint NOT NULL,
  created_at bigint NOT NULL,
  redacted_at bigint,
  redacted_by text COLLATE "C"
);
CREATE INDEX comments_ticket_created ON comments (ticket_id, created_at, id);
CREATE INDEX comments_org_created ON comments (org_id, created_at, id);

CREATE TABLE comment_attachments (
  comment_id text COLLATE "C" NOT NULL REFERENCES comments (id) ON DELETE CASCADE,
  file_id text COLLATE "C" NOT NULL REFERENCES files (id) ON DELETE CASCADE,
  position bigint NOT NULL,
  PRIMARY KEY (comment_id, file_id)
);
CREATE INDEX comment_attachments_file ON comment_attachments (file_id);
