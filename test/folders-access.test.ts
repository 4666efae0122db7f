// Who may touch folders: the access matrix of every /v1/folders route (rows in test/route-matrix.ts).
import { describeRouteMatrix, ROUTE_MATRIX } from "./route-matrix";

describeRouteMatrix("folders", ROUTE_MATRIX.folders);
