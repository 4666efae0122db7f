// Who may touch a ticket's comments: the access matrix (401 causes, free-plan 403, cross-organization 404 with nothing changed, attached files included) for every comments route (rows in test/route-matrix.ts).
import { describeRouteMatrix, ROUTE_MATRIX } from "./route-matrix";

describeRouteMatrix("comments", ROUTE_MATRIX.comments);
