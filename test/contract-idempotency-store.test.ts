// Runs the idempotency store contract against every engine.
import { ENGINES, opener } from "./contracts/engines";
import { describeIdempotencyStoreContract } from "./contracts/idempotency-store.contract";

for (const engine of ENGINES)
  describeIdempotencyStoreContract(
    engine.name,
    opener(engine, (w) => w.idempotency),
  );
