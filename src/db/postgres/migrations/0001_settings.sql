-- Settings every instance on the database shares, one row each (name -> text value): the download-link signing key
-- ("download_url_key", 64 hex characters), so a link minted by one instance is accepted by every other.
CREATE TABLE settings (
  name text COLLATE "C" PRIMARY KEY,
  value text COLLATE "C" NOT NULL
);
