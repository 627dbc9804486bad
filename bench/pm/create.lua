-- POSTs a package with a new name on every request (one wrk thread, so the counter is unique).
local counter = 0
local prefix = os.getenv("NAME_PREFIX") or "c"
local template = io.open(os.getenv("TEMPLATE_FILE")):read("*a")
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
request = function()
  counter = counter + 1
  local body = string.gsub(template, "__NAME__", prefix .. "-" .. counter)
  return wrk.format(nil, "/api/v1/packages", nil, body)
end
