// Runs the organizations store contract against every engine.
import { ENGINES, opener } from "./contracts/engines";
import { describeOrgsStoreContract } from "./contracts/orgs-store.contract";

for (const engine of ENGINES)
  describeOrgsStoreContract(
    engine.name,
    opener(engine, (w) => ({ orgs: w.orgs, writer: w.writer })),
  );
