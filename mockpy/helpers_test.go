package mockpy_test

import "encoding/json"

func wireNumber(s string) json.Number { return json.Number(s) }
