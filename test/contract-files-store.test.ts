// Runs the files store contract against every engine.
import { ENGINES, opener } from "./contracts/engines";
import { describeFilesStoreContract } from "./contracts/files-store.contract";

for (const engine of ENGINES)
  describeFilesStoreContract(
    engine.name,
    opener(engine, (w) => ({ files: w.files, writer: w.writer })),
  );
