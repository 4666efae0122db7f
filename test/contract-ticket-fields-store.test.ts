// Runs the ticket fields store contract against every engine.
import { ENGINES, opener } from "./contracts/engines";
import { describeTicketFieldsStoreContract } from "./contracts/ticket-fields-store.contract";

for (const engine of ENGINES)
  describeTicketFieldsStoreContract(
    engine.name,
    opener(engine, (w) => ({ ticketFields: w.ticketFields, tickets: w.tickets, writer: w.writer })),
  );
