-- Golden vectors are hex text (whitespace and # comments allowed); libFuzzer
-- seeds must be the raw PDU bytes. stdin: hex text, stdout: bytes.
local hex = io.read("a"):gsub("#[^\n]*", ""):gsub("%s", "")
io.write((hex:gsub("%x%x", function(h) return string.char(tonumber(h, 16)) end)))
