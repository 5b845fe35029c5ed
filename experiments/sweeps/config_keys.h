// Which dotted keys a train config has and what JSON type each takes, read off the config's own
// JSON form (to_json of the defaults), so a key the plan gains is sweepable without touching this
// file. A sweep checks every key and value of its spec here before any point runs: a misspelt key
// or a string where a number belongs is one error naming the field, not forty failed runs.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace trident {

// Throws trident::Error naming `where` when `key` ("layout.dp", "model.preset") is not a key of a
// train config or `value` is not of the type it takes (an integer field takes integers, a float
// field any number, and so on). Sections ("layout") are not keys: grids vary values.
void check_config_value(const std::string& where, const std::string& key, const nlohmann::json& value);

// Checks a partial config object (a sweep's base) key by key, recursively; `where` names it.
void check_config_object(const std::string& where, const nlohmann::json& object);

// True when `key` names a value of a train config.
bool is_config_key(const std::string& key);

}  // namespace trident
