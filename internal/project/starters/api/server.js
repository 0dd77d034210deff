// A small JSON API with a page that calls it, on Node's standard library
// only, so it runs without installing anything.
const http = require("node:http");
const fs = require("node:fs");
const path = require("node:path");

const port = Number(process.env.PORT) || 3000;
const items = [{ id: 1, name: "First item" }];

function json(res, status, body) {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, "http://localhost");
  if (url.pathname === "/api/health") return json(res, 200, { ok: true });
  if (url.pathname === "/api/items" && req.method === "GET") return json(res, 200, items);
  if (url.pathname === "/api/items" && req.method === "POST") {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      try {
        const { name } = JSON.parse(body || "{}");
        if (typeof name !== "string" || !name.trim()) return json(res, 400, { error: "name is required" });
        const item = { id: items.length + 1, name: name.trim() };
        items.push(item);
        json(res, 201, item);
      } catch {
        json(res, 400, { error: "invalid JSON" });
      }
    });
    return;
  }
  if (url.pathname === "/") {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    return fs.createReadStream(path.join(__dirname, "public", "index.html")).pipe(res);
  }
  json(res, 404, { error: "not found" });
});

server.listen(port, "0.0.0.0", () => console.log(`API listening on port ${port}`));
