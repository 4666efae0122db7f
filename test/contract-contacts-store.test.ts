// Runs the contacts store contract against every engine.
import { ENGINES, opener } from "./contracts/engines";
import { describeContactsStoreContract } from "./contracts/contacts-store.contract";

for (const engine of ENGINES)
  describeContactsStoreContract(
    engine.name,
    opener(engine, (w) => ({ contacts: w.contacts, outbox: w.outbox, writer: w.writer })),
  );
