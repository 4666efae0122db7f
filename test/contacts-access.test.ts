// Who may touch contacts: the access matrix (401 causes, free-plan 403, cross-organization 404 with nothing changed) for every contacts route (rows in test/route-matrix.ts).
import { describeRouteMatrix, ROUTE_MATRIX } from "./route-matrix";

describeRouteMatrix("contacts", ROUTE_MATRIX.contacts);
