// Runs the ticket search store contract against every engine.
import { ENGINES, opener } from "./contracts/engines";
import { describeTicketSearchStoreContract } from "./contracts/ticket-search-store.contract";

for (const engine of ENGINES)
  describeTicketSearchStoreContract(
    engine.name,
    opener(engine, (w) => ({ ticketSearch: w.ticketSearch, tickets: w.tickets })),
  );
