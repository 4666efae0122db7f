// Runs the tickets store contract against every engine.
import { ENGINES, opener } from "./contracts/engines";
import { describeTicketsStoreContract } from "./contracts/tickets-store.contract";

for (const engine of ENGINES)
  describeTicketsStoreContract(
    engine.name,
    opener(engine, (w) => ({ tickets: w.tickets, writer: w.writer })),
  );
