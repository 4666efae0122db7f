// Runs the outbox store contract against every engine.
import { ENGINES, opener } from "./contracts/engines";
import { describeOutboxStoreContract } from "./contracts/outbox-store.contract";

for (const engine of ENGINES)
  describeOutboxStoreContract(
    engine.name,
    opener(engine, (w) => ({ outbox: w.outbox, signal: w.signals, writer: w.writer })),
  );
