-- wrk: POST /v1/tickets with the API reference's example body (the Authorization header comes from wrk -H).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [[{"subject":"Cannot upload files over 10MB","description":"When I try to upload a PDF larger than 10MB, the upload fails silently.","priority":"medium"}]]
