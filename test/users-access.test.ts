// Who may read users: the access matrix (401 causes, free-plan 403, cross-organization 404 with nothing changed) for every users route (rows in test/route-matrix.ts).
import { describeRouteMatrix, ROUTE_MATRIX } from "./route-matrix";

describeRouteMatrix("users", ROUTE_MATRIX.users);
