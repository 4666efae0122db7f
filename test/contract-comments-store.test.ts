// Runs the comments store contract against every engine.
import { ENGINES, opener } from "./contracts/engines";
import { describeCommentsStoreContract } from "./contracts/comments-store.contract";

for (const engine of ENGINES)
  describeCommentsStoreContract(
    engine.name,
    opener(engine, (w) => ({ comments: w.comments, files: w.files, tickets: w.tickets, writer: w.writer })),
  );
