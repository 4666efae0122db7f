// The rows of the PostgreSQL `settings` table (migration 0001_settings): what every instance on the database shares.

/** The download-link signing key, as 64 hex characters. */
export const DOWNLOAD_KEY_SETTING = "download_url_key";
