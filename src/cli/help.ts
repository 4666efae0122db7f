// `clientcove --help`: the list of commands.
import { optionsHelp } from "../config";

export const MAIN_HELP = `clientcove — self-hosted support tickets, shared files and webhooks

Usage: clientcove [command] [options]

Commands:
  serve                 Start the API server (default)
  migrate               Apply pending database migrations (refused while a server runs)
  orgs create|update|list
                        Manage organizations
  users create|list     Add and list the users of organizations
  keys create|list|revoke|rotate
                        Manage API keys
  version               Print version information
  status                Counts and sizes of a data dir (no server needed)
  backup --out FILE     Write a consistent backup archive (safe while serving)
  restore FILE          Restore a backup into a new, empty data dir (or an empty PostgreSQL database)
  migrate-data --to-database URL [--to-storage URL]
                        Copy a stopped embedded install into PostgreSQL (and its files into a bucket)
  verify                Check the database and every stored file's bytes
  config                Print the effective configuration and where each value came from
  healthcheck           Exit 0 if the running server is ready (for container health checks)

Every command that touches data takes --data-dir (env CLIENTCOVE_DATA_DIR, default ./data);
add --json for machine-readable output. \`clientcove <command> --help\` for details.

Server options:
${optionsHelp()}`;
