// Who may touch files: the access matrix of every /v1/files route (rows in test/route-matrix.ts).
import { describeRouteMatrix, ROUTE_MATRIX } from "./route-matrix";

describeRouteMatrix("files", ROUTE_MATRIX.files);
