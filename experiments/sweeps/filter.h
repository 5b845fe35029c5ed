// A sweep's filter rules: small expressions over a point's config that keep the points for which
// they are true, e.g.
//   "layout.dp * layout.pp * layout.tp == 8"
//   "not (layout.schedule == 'interleaved' and layout.micro_batches % layout.pp != 0)"
//   "layout.schedule in ['gpipe', '1f1b'] or layout.pp == 2"
// Grammar (Python's operators and precedence, loosest first):
//   expr := or;  or := and ('or' and)*;  and := not ('and' not)*;  not := 'not' not | cmp
//   cmp  := sum [('==' | '!=' | '<' | '<=' | '>' | '>=' | 'in') sum]
//   sum  := prod (('+' | '-') prod)*;  prod := unary (('*' | '/' | '%') unary)*;  unary := '-' unary | atom
//   atom := number | 'string' | "string" | true | false | name | '(' expr ')' | '[' expr (',' expr)* ']'
// A name is a dotted config key (the point's resolved value, defaults filled in), `world_size`
// (dp·pp·tp) or a tag (`tag.scaling`). Names are checked when the filter is read; type mismatches
// (a string compared with a number) are errors when it is evaluated, never silently false.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

namespace trident {

class Filter {
 public:
  // Parses `text`; `where` names it in errors ("filter[1]"); `known(name)` says whether a name
  // exists. Throws trident::Error naming `where`, the position and what was expected.
  static Filter parse(const std::string& text, const std::string& where,
                      const std::function<bool(const std::string&)>& known);

  // The expression's truth for a point; `lookup(name)` gives a name's value. Throws naming the
  // filter when the result is not a boolean or an operation does not apply to its operands.
  bool holds(const std::function<nlohmann::json(const std::string&)>& lookup) const;

  const std::string& text() const { return text_; }

  struct Node;

 private:
  std::string text_, where_;
  std::shared_ptr<const Node> root_;
};

}  // namespace trident
