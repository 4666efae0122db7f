// drizzle-kit settings: generates forward-only SQL migrations into drizzle/ from src/db/schema.
import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "sqlite",
  schema: "./src/db/schema/index.ts",
  out: "./drizzle",
});
