// Runs the webhooks store contract against every engine.
import { ENGINES, opener } from "./contracts/engines";
import { describeWebhooksStoreContract } from "./contracts/webhooks-store.contract";

for (const engine of ENGINES)
  describeWebhooksStoreContract(
    engine.name,
    opener(engine, (w) => ({ webhooks: w.webhooks, queued: w.signals, writer: w.writer })),
  );
