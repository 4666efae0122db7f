// Who may touch custom ticket fields (/v1/ticket-fields): the access matrix (401 causes, free-plan 403, cross-organization 404 with nothing changed) for every ticket-fields route (rows in test/route-matrix.ts, feature `fields`).
import { describeRouteMatrix, ROUTE_MATRIX } from "./route-matrix";

describeRouteMatrix("fields", ROUTE_MATRIX.fields);
