// Filter expressions: a tokenizer, a recursive-descent parser (one function per precedence level,
// as in the grammar of filter.h) building a small tree, and an evaluator over JSON values.
#include "experiments/sweeps/filter.h"

#include <cctype>
#include <cmath>
#include <vector>

#include "core/error.h"

namespace trident {

using json = nlohmann::json;

struct Filter::Node {
  enum Kind { kLiteral, kName, kUnary, kBinary, kList } kind = kLiteral;
  std::string op;  // kUnary: "-", "not"; kBinary: "or", "and", "==", …, "+", …; kName: the name
  json value;      // kLiteral
  std::vector<std::shared_ptr<const Node>> args;
};

namespace {

using Node = Filter::Node;
using NodePtr = std::shared_ptr<const Node>;

struct Token {
  enum Kind { kNumber, kString, kWord, kSymbol, kEnd } kind = kEnd;
  std::string text;
  json value;
  std::size_t pos = 0;  // 0-based offset in the text
};

class Parser {
 public:
  Parser(const std::string& text, const std::string& where, const std::function<bool(const std::string&)>& known)
      : text_(text), where_(where), known_(known) {
    tokenize();
  }

  NodePtr parse() {
    NodePtr root = parse_or();
    if (peek().kind != Token::kEnd) fail("unexpected '" + peek().text + "'");
    return root;
  }

 private:
  [[noreturn]] void fail(const std::string& what, std::size_t pos = std::string::npos) const {
    if (pos == std::string::npos) pos = tokens_[next_].pos;
    TRIDENT_FAIL(where_, " \"", text_, "\": ", what, " at column ", pos + 1);
  }

  void tokenize() {
    static const char* kSymbols[] = {"==", "!=", "<=", ">=", "<", ">", "+", "-", "*", "/", "%", "(", ")", "[", "]", ","};
    std::size_t i = 0;
    while (i < text_.size()) {
      const char c = text_[i];
      if (std::isspace(static_cast<unsigned char>(c))) {
        ++i;
        continue;
      }
      Token t;
      t.pos = i;
      if (std::isdigit(static_cast<unsigned char>(c)) || (c == '.' && i + 1 < text_.size() && std::isdigit(static_cast<unsigned char>(text_[i + 1])))) {
        std::size_t end = i;
        while (end < text_.size() && (std::isalnum(static_cast<unsigned char>(text_[end])) || text_[end] == '.' ||
                                      ((text_[end] == '+' || text_[end] == '-') && (text_[end - 1] == 'e' || text_[end - 1] == 'E'))))
          ++end;
        t.text = text_.substr(i, end - i);
        json v = json::parse(t.text, nullptr, false);
        if (v.is_discarded() || !v.is_number()) fail("'" + t.text + "' is not a number", i);
        t.kind = Token::kNumber;
        t.value = v;
        i = end;
      } else if (c == '\'' || c == '"') {
        const std::size_t end = text_.find(c, i + 1);
        if (end == std::string::npos) fail("unterminated string", i);
        t.kind = Token::kString;
        t.text = text_.substr(i, end - i + 1);
        t.value = text_.substr(i + 1, end - i - 1);
        i = end + 1;
      } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        std::size_t end = i;
        while (end < text_.size() && (std::isalnum(static_cast<unsigned char>(text_[end])) || text_[end] == '_' || text_[end] == '.'))
          ++end;
        t.kind = Token::kWord;
        t.text = text_.substr(i, end - i);
        i = end;
      } else {
        for (const char* s : kSymbols)
          if (text_.compare(i, std::char_traits<char>::length(s), s) == 0) {
            t.kind = Token::kSymbol;
            t.text = s;
            break;
          }
        if (t.kind != Token::kSymbol) fail(std::string("unexpected character '") + c + "'", i);
        i += t.text.size();
      }
      tokens_.push_back(std::move(t));
    }
    Token end;
    end.pos = text_.size();
    end.text = "end of text";
    tokens_.push_back(end);
  }

  const Token& peek() const { return tokens_[next_]; }
  bool accept(const std::string& text) {
    const Token& t = peek();
    if ((t.kind == Token::kSymbol || t.kind == Token::kWord) && t.text == text) {
      ++next_;
      return true;
    }
    return false;
  }
  void expect(const std::string& text) {
    if (!accept(text)) fail("expected '" + text + "' but found '" + peek().text + "'");
  }

  static NodePtr make(Node::Kind kind, std::string op, std::vector<NodePtr> args) {
    auto n = std::make_shared<Node>();
    n->kind = kind;
    n->op = std::move(op);
    n->args = std::move(args);
    return n;
  }

  NodePtr parse_or() {
    NodePtr left = parse_and();
    while (accept("or")) left = make(Node::kBinary, "or", {left, parse_and()});
    return left;
  }
  NodePtr parse_and() {
    NodePtr left = parse_not();
    while (accept("and")) left = make(Node::kBinary, "and", {left, parse_not()});
    return left;
  }
  NodePtr parse_not() {
    if (accept("not")) return make(Node::kUnary, "not", {parse_not()});
    return parse_cmp();
  }
  NodePtr parse_cmp() {
    NodePtr left = parse_sum();
    for (const char* op : {"==", "!=", "<=", ">=", "<", ">", "in"})
      if (accept(op)) return make(Node::kBinary, op, {left, parse_sum()});
    return left;
  }
  NodePtr parse_sum() {
    NodePtr left = parse_prod();
    while (true) {
      if (accept("+")) left = make(Node::kBinary, "+", {left, parse_prod()});
      else if (accept("-")) left = make(Node::kBinary, "-", {left, parse_prod()});
      else return left;
    }
  }
  NodePtr parse_prod() {
    NodePtr left = parse_unary();
    while (true) {
      if (accept("*")) left = make(Node::kBinary, "*", {left, parse_unary()});
      else if (accept("/")) left = make(Node::kBinary, "/", {left, parse_unary()});
      else if (accept("%")) left = make(Node::kBinary, "%", {left, parse_unary()});
      else return left;
    }
  }
  NodePtr parse_unary() {
    if (accept("-")) return make(Node::kUnary, "-", {parse_unary()});
    return parse_atom();
  }
  NodePtr parse_atom() {
    const Token t = peek();
    if (accept("(")) {
      NodePtr inner = parse_or();
      expect(")");
      return inner;
    }
    if (accept("[")) {
      std::vector<NodePtr> items{parse_or()};
      while (accept(",")) items.push_back(parse_or());
      expect("]");
      return make(Node::kList, "[]", std::move(items));
    }
    auto literal = [&](json v) {
      ++next_;
      auto n = std::make_shared<Node>();
      n->value = std::move(v);
      return n;
    };
    if (t.kind == Token::kNumber || t.kind == Token::kString) return literal(t.value);
    if (t.kind == Token::kWord && (t.text == "true" || t.text == "false")) return literal(t.text == "true");
    if (t.kind == Token::kWord && t.text != "and" && t.text != "or" && t.text != "not" && t.text != "in") {
      if (!known_(t.text))
        fail("unknown name '" + t.text + "' (use a dotted config key such as layout.pp, world_size, or a tag.* of the grid)");
      ++next_;
      return make(Node::kName, t.text, {});
    }
    fail("expected a value but found '" + t.text + "'");
  }

  const std::string& text_;
  const std::string& where_;
  const std::function<bool(const std::string&)>& known_;
  std::vector<Token> tokens_;
  std::size_t next_ = 0;
};

struct Evaluator {
  const std::string& where;
  const std::string& text;
  const std::function<json(const std::string&)>& lookup;

  [[noreturn]] void fail(const std::string& what) const { TRIDENT_FAIL(where, " \"", text, "\": ", what); }

  static std::string shown(const json& v) { return std::string(v.type_name()) + " " + v.dump(); }

  bool truth(const Node& n) const {
    const json v = eval(n);
    if (!v.is_boolean()) fail("'" + v.dump() + "' is not true or false (a filter must be a condition)");
    return v.get<bool>();
  }

  double number(const json& v, const std::string& op) const {
    if (!v.is_number()) fail("'" + op + "' needs numbers, not " + shown(v));
    return v.get<double>();
  }

  static bool equal(const json& a, const json& b) {
    if (a.is_number() && b.is_number()) return a.get<double>() == b.get<double>();
    return a == b;
  }

  json arithmetic(const std::string& op, const json& a, const json& b) const {
    const double x = number(a, op), y = number(b, op);
    const bool integers = a.is_number_integer() && b.is_number_integer();
    if ((op == "/" || op == "%") && y == 0) fail("division by zero");
    if (integers && op != "/") {
      const auto i = a.get<std::int64_t>(), j = b.get<std::int64_t>();
      if (op == "+") return i + j;
      if (op == "-") return i - j;
      if (op == "*") return i * j;
      return ((i % j) + j) % j;  // Python's modulo: the sign of the divisor
    }
    if (op == "+") return x + y;
    if (op == "-") return x - y;
    if (op == "*") return x * y;
    if (op == "/") return x / y;
    return x - y * std::floor(x / y);
  }

  json eval(const Node& n) const {
    switch (n.kind) {
      case Node::kLiteral:
        return n.value;
      case Node::kName:
        return lookup(n.op);
      case Node::kList: {
        json list = json::array();
        for (const auto& a : n.args) list.push_back(eval(*a));
        return list;
      }
      case Node::kUnary:
        if (n.op == "not") return !truth(*n.args[0]);
        return arithmetic("-", json(0), eval(*n.args[0]));
      case Node::kBinary:
        break;
    }
    const std::string& op = n.op;
    if (op == "and") return truth(*n.args[0]) && truth(*n.args[1]);
    if (op == "or") return truth(*n.args[0]) || truth(*n.args[1]);
    const json a = eval(*n.args[0]), b = eval(*n.args[1]);
    if (op == "==") return equal(a, b);
    if (op == "!=") return !equal(a, b);
    if (op == "in") {
      if (!b.is_array()) fail("'in' needs a list on its right, e.g. layout.pp in [2, 4], not " + shown(b));
      for (const json& item : b)
        if (equal(a, item)) return true;
      return false;
    }
    if (op == "<" || op == "<=" || op == ">" || op == ">=") {
      if (a.is_string() && b.is_string()) {
        const int c = a.get<std::string>().compare(b.get<std::string>());
        return op == "<" ? c < 0 : op == "<=" ? c <= 0 : op == ">" ? c > 0 : c >= 0;
      }
      const double x = number(a, op), y = number(b, op);
      return op == "<" ? x < y : op == "<=" ? x <= y : op == ">" ? x > y : x >= y;
    }
    return arithmetic(op, a, b);
  }
};

}  // namespace

Filter Filter::parse(const std::string& text, const std::string& where,
                     const std::function<bool(const std::string&)>& known) {
  Filter f;
  f.text_ = text;
  f.where_ = where;
  f.root_ = Parser(text, where, known).parse();
  return f;
}

bool Filter::holds(const std::function<json(const std::string&)>& lookup) const {
  return Evaluator{where_, text_, lookup}.truth(*root_);
}

}  // namespace trident
