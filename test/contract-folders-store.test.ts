// Runs the folders store contract against every engine.
import { ENGINES, opener } from "./contracts/engines";
import { describeFoldersStoreContract } from "./contracts/folders-store.contract";

for (const engine of ENGINES)
  describeFoldersStoreContract(
    engine.name,
    opener(engine, (w) => ({ folders: w.folders, writer: w.writer })),
  );
