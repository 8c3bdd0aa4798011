#include "rules/expr.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace obsgate::rules {

enum class Type { kNumber, kBool, kDuration };

enum class Fn {
  kRequests,
  kErrors,
  kErrorRate,
  kLogLines,
  kLogErrors,
  kLogErrorRatio,
  kBurnRate,
  kAge,
  kWorseThanBaseline,
  kSequentialWorseThanBaseline
};

struct Expression::Node {
  enum class Kind { kNumber, kDuration, kCall, kNeg, kNot, kAnd, kOr, kCompare, kArith };
  Kind kind;
  Type type = Type::kNumber;
  double number = 0;      // kNumber; kDuration in milliseconds
  Fn fn = Fn::kRequests;  // kCall
  bool baseline = false;  // kCall on baseline.
  std::string name;       // kCall: as written, for measurements
  char code = 0;          // the operator in one byte: > G(>=) < L(<=) =(==) !(!=) + - * /
  std::vector<std::shared_ptr<const Node>> args;
};

namespace {

// The longest stretch of a release the sequential test reads; the store clamps it to its horizon.
constexpr core::Duration kSequentialSpan = std::chrono::hours(1);

using Node = Expression::Node;
using NodePtr = std::shared_ptr<const Node>;

struct FnInfo {
  const char* name;
  Fn fn;
  std::vector<Type> params;
  Type result;
  bool on_baseline;  // may be written baseline.NAME(...)
};

const FnInfo kFunctions[] = {
    {"requests", Fn::kRequests, {Type::kDuration}, Type::kNumber, true},
    {"errors", Fn::kErrors, {Type::kDuration}, Type::kNumber, true},
    {"error_rate", Fn::kErrorRate, {Type::kDuration}, Type::kNumber, true},
    {"log_lines", Fn::kLogLines, {Type::kDuration}, Type::kNumber, true},
    {"log_errors", Fn::kLogErrors, {Type::kDuration}, Type::kNumber, true},
    {"log_error_ratio", Fn::kLogErrorRatio, {Type::kDuration}, Type::kNumber, true},
    {"burn_rate", Fn::kBurnRate, {Type::kDuration, Type::kNumber}, Type::kNumber, true},
    {"age", Fn::kAge, {}, Type::kDuration, true},
    {"worse_than_baseline",
     Fn::kWorseThanBaseline,
     {Type::kDuration, Type::kNumber},
     Type::kBool,
     false},
    {"sequential_worse_than_baseline",
     Fn::kSequentialWorseThanBaseline,
     {Type::kNumber},
     Type::kBool,
     false},
};

const char* TypeName(Type t) {
  switch (t) {
    case Type::kNumber:
      return "a number";
    case Type::kBool:
      return "a condition";
    case Type::kDuration:
      return "a duration";
  }
  return "?";
}

struct Token {
  enum class Kind {
    kEnd,
    kNumber,
    kPercent,
    kDuration,
    kIdent,
    kOp,
    kLParen,
    kRParen,
    kComma,
    kDot
  };
  Kind kind = Kind::kEnd;
  std::string_view text;
  double number = 0;       // kNumber, kPercent (as a ratio), kDuration (ms)
  std::size_t column = 0;  // 0-based
};

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  core::Result<NodePtr> Parse() {
    if (!Next()) return Fail();
    NodePtr root = Or();
    if (!root) return Fail();
    if (tok_.kind != Token::Kind::kEnd) {
      Error(tok_.column,
            "unexpected \"" + std::string(tok_.text) + "\"; expected and, or, or the end");
      return Fail();
    }
    if (root->type != Type::kBool) {
      Error(0, "the expression is " + std::string(TypeName(root->type)) +
                   "; a rule needs a condition, such as error_rate(5m) > 1%");
      return Fail();
    }
    return root;
  }

  core::Duration longest() const { return longest_; }

 private:
  core::Error FailError() const {
    std::string caret(error_column_, ' ');
    return core::Error{"column " + std::to_string(error_column_ + 1) + ": " + error_ + "\n  " +
                       std::string(text_) + "\n  " + caret + "^"};
  }
  core::Result<NodePtr> Fail() const { return FailError(); }

  // Records the first error only; returns null for the caller to pass up.
  NodePtr Error(std::size_t column, std::string message) {
    if (error_.empty()) {
      error_ = std::move(message);
      error_column_ = column;
    }
    return nullptr;
  }

  bool Next() {
    std::size_t i = pos_;
    while (i < text_.size() && (text_[i] == ' ' || text_[i] == '\t' || text_[i] == '\n')) ++i;
    tok_ = Token{};
    tok_.column = i;
    if (i >= text_.size()) {
      pos_ = i;
      return true;
    }
    char c = text_[i];
    auto is_digit = [](char d) { return d >= '0' && d <= '9'; };
    auto is_alpha = [](char d) {
      return (d >= 'a' && d <= 'z') || (d >= 'A' && d <= 'Z') || d == '_';
    };
    std::size_t start = i;
    if (is_digit(c) || (c == '.' && i + 1 < text_.size() && is_digit(text_[i + 1]))) {
      while (i < text_.size() && (is_digit(text_[i]) || text_[i] == '.')) ++i;
      std::string_view num = text_.substr(start, i - start);
      double v = 0;
      auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), v);
      if (ec != std::errc() || p != num.data() + num.size()) {
        Error(start, "\"" + std::string(num) + "\" is not a number");
        return false;
      }
      if (i < text_.size() && text_[i] == '%') {
        ++i;
        tok_.kind = Token::Kind::kPercent;
        tok_.number = v / 100;
      } else if (i < text_.size() && is_alpha(text_[i])) {
        // A duration: digits and units, "5m", "1h30m", "500ms".
        while (i < text_.size() && (is_alpha(text_[i]) || is_digit(text_[i]))) ++i;
        auto d = core::ParseDuration(text_.substr(start, i - start));
        if (!d) {
          Error(start, d.error());
          return false;
        }
        tok_.kind = Token::Kind::kDuration;
        tok_.number = static_cast<double>(d->count());
      } else {
        tok_.kind = Token::Kind::kNumber;
        tok_.number = v;
      }
    } else if (is_alpha(c)) {
      while (i < text_.size() && (is_alpha(text_[i]) || is_digit(text_[i]))) ++i;
      tok_.kind = Token::Kind::kIdent;
    } else if (c == '(' || c == ')' || c == ',' || c == '.') {
      ++i;
      tok_.kind = c == '('   ? Token::Kind::kLParen
                  : c == ')' ? Token::Kind::kRParen
                  : c == ',' ? Token::Kind::kComma
                             : Token::Kind::kDot;
    } else if (c == '>' || c == '<' || c == '=' || c == '!') {
      ++i;
      if (i < text_.size() && text_[i] == '=') ++i;
      std::string_view op = text_.substr(start, i - start);
      if (op == "=" || op == "!") {
        Error(start, "\"" + std::string(op) + "\" is not an operator; use == or !=");
        return false;
      }
      tok_.kind = Token::Kind::kOp;
    } else if (c == '+' || c == '-' || c == '*' || c == '/') {
      ++i;
      tok_.kind = Token::Kind::kOp;
    } else {
      Error(start, std::string("unexpected character '") + c + "'");
      return false;
    }
    tok_.text = text_.substr(start, i - start);
    pos_ = i;
    return true;
  }

  bool IsWord(std::string_view w) const {
    return tok_.kind == Token::Kind::kIdent && tok_.text == w;
  }
  bool IsOp(std::string_view o) const { return tok_.kind == Token::Kind::kOp && tok_.text == o; }

  static NodePtr Make(Node::Kind kind, Type type, std::vector<NodePtr> args, std::string op = {}) {
    auto n = std::make_shared<Node>();
    n->kind = kind;
    n->type = type;
    n->args = std::move(args);
    n->code = op == ">="   ? 'G'
              : op == "<=" ? 'L'
              : op == "==" ? '='
              : op == "!=" ? '!'
              : op.empty() ? 0
                           : op[0];
    return n;
  }

  // Nesting is bounded so that no expression can exhaust the stack.
  static constexpr int kMaxDepth = 192;  // about 60 levels of parentheses
  struct Depth {
    explicit Depth(int& d) : d_(++d) {}
    ~Depth() { --d_; }
    int& d_;
  };
  bool TooDeep() const { return depth_ > kMaxDepth; }

  NodePtr Or() {
    Depth guard(depth_);
    if (TooDeep()) return Error(tok_.column, "the expression nests too deeply");
    std::size_t col = tok_.column;
    NodePtr left = And();
    while (left && IsWord("or")) {
      std::size_t op_col = tok_.column;
      if (!Next()) return nullptr;
      NodePtr right = And();
      if (!right) return nullptr;
      if (left->type != Type::kBool || right->type != Type::kBool) {
        return Error(left->type != Type::kBool ? col : op_col,
                     "\"or\" joins conditions, such as error_rate(5m) > 1%");
      }
      left = Make(Node::Kind::kOr, Type::kBool, {left, right});
    }
    return left;
  }

  NodePtr And() {
    std::size_t col = tok_.column;
    NodePtr left = Not();
    while (left && IsWord("and")) {
      std::size_t op_col = tok_.column;
      if (!Next()) return nullptr;
      NodePtr right = Not();
      if (!right) return nullptr;
      if (left->type != Type::kBool || right->type != Type::kBool) {
        return Error(left->type != Type::kBool ? col : op_col + 4,
                     "\"and\" joins conditions, such as requests(5m) >= 100");
      }
      left = Make(Node::Kind::kAnd, Type::kBool, {left, right});
    }
    return left;
  }

  NodePtr Not() {
    Depth guard(depth_);
    if (TooDeep()) return Error(tok_.column, "the expression nests too deeply");
    if (IsWord("not")) {
      std::size_t col = tok_.column;
      if (!Next()) return nullptr;
      NodePtr inner = Not();
      if (!inner) return nullptr;
      if (inner->type != Type::kBool) return Error(col, "\"not\" takes a condition");
      return Make(Node::Kind::kNot, Type::kBool, {inner});
    }
    return Compare();
  }

  NodePtr Compare() {
    NodePtr left = Sum();
    if (!left) return nullptr;
    static constexpr std::string_view kOps[] = {">", ">=", "<", "<=", "==", "!="};
    for (std::string_view op : kOps) {
      if (!IsOp(op)) continue;
      std::size_t col = tok_.column;
      if (!Next()) return nullptr;
      std::size_t right_col = tok_.column;
      NodePtr right = Sum();
      if (!right) return nullptr;
      if (left->type == Type::kBool || right->type == Type::kBool) {
        return Error(col,
                     "\"" + std::string(op) + "\" compares numbers or durations, not conditions");
      }
      if (left->type != right->type) {
        return Error(right_col, "cannot compare " + std::string(TypeName(left->type)) + " with " +
                                    TypeName(right->type) +
                                    (left->type == Type::kDuration
                                         ? "; write a duration, such as age() < 30m"
                                         : "; write a number or a percent, such as 1%"));
      }
      return Make(Node::Kind::kCompare, Type::kBool, {left, right}, std::string(op));
    }
    return left;
  }

  NodePtr Sum() {
    NodePtr left = Term();
    while (left && (IsOp("+") || IsOp("-"))) {
      std::string op(tok_.text);
      std::size_t col = tok_.column;
      if (!Next()) return nullptr;
      NodePtr right = Term();
      if (!right) return nullptr;
      if (left->type == Type::kBool || right->type == Type::kBool || left->type != right->type) {
        return Error(col, "\"" + op + "\" needs two numbers or two durations");
      }
      left = Make(Node::Kind::kArith, left->type, {left, right}, op);
    }
    return left;
  }

  NodePtr Term() {
    NodePtr left = Unary();
    while (left && (IsOp("*") || IsOp("/"))) {
      std::string op(tok_.text);
      std::size_t col = tok_.column;
      if (!Next()) return nullptr;
      NodePtr right = Unary();
      if (!right) return nullptr;
      if (left->type != Type::kNumber || right->type != Type::kNumber) {
        return Error(col, "\"" + op + "\" needs two numbers");
      }
      left = Make(Node::Kind::kArith, Type::kNumber, {left, right}, op);
    }
    return left;
  }

  NodePtr Unary() {
    Depth guard(depth_);
    if (TooDeep()) return Error(tok_.column, "the expression nests too deeply");
    if (IsOp("-")) {
      std::size_t col = tok_.column;
      if (!Next()) return nullptr;
      NodePtr inner = Unary();
      if (!inner) return nullptr;
      if (inner->type == Type::kBool)
        return Error(col, "\"-\" needs a number; use not for conditions");
      return Make(Node::Kind::kNeg, inner->type, {inner});
    }
    return Primary();
  }

  NodePtr Primary() {
    Token t = tok_;
    switch (t.kind) {
      case Token::Kind::kNumber:
      case Token::Kind::kPercent: {
        if (!Next()) return nullptr;
        auto n = std::make_shared<Node>();
        n->kind = Node::Kind::kNumber;
        n->type = Type::kNumber;
        n->number = t.number;
        return n;
      }
      case Token::Kind::kDuration: {
        if (!Next()) return nullptr;
        auto n = std::make_shared<Node>();
        n->kind = Node::Kind::kDuration;
        n->type = Type::kDuration;
        n->number = t.number;
        return n;
      }
      case Token::Kind::kLParen: {
        if (!Next()) return nullptr;
        NodePtr inner = Or();
        if (!inner) return nullptr;
        if (tok_.kind != Token::Kind::kRParen) return Error(tok_.column, "expected )");
        if (!Next()) return nullptr;
        return inner;
      }
      case Token::Kind::kIdent:
        return Call();
      case Token::Kind::kEnd:
        return Error(t.column, "the expression ends too soon");
      default:
        return Error(t.column, "unexpected \"" + std::string(t.text) + "\"");
    }
  }

  NodePtr Call() {
    std::size_t start = tok_.column;
    bool baseline = false;
    if (IsWord("baseline")) {
      if (!Next()) return nullptr;
      if (tok_.kind != Token::Kind::kDot) {
        return Error(tok_.column, "expected . after baseline, as in baseline.error_rate(5m)");
      }
      if (!Next()) return nullptr;
      if (tok_.kind != Token::Kind::kIdent) {
        return Error(tok_.column, "expected a function after baseline.");
      }
      baseline = true;
    }
    std::string_view name = tok_.text;
    std::size_t name_col = tok_.column;
    if (name == "and" || name == "or" || name == "not") {
      return Error(name_col, "\"" + std::string(name) + "\" needs a condition before it");
    }
    const FnInfo* info = nullptr;
    for (const FnInfo& f : kFunctions) {
      if (name == f.name) info = &f;
    }
    if (info == nullptr) {
      return Error(name_col, "unknown function \"" + std::string(name) +
                                 "\"; use requests, errors, error_rate, log_lines, log_errors, "
                                 "log_error_ratio, burn_rate, age, worse_than_baseline or "
                                 "sequential_worse_than_baseline");
    }
    if (baseline && !info->on_baseline) {
      return Error(name_col, std::string(info->name) + "() compares with the baseline already");
    }
    if (!Next()) return nullptr;
    if (tok_.kind != Token::Kind::kLParen) {
      return Error(tok_.column, "expected ( after " + std::string(name));
    }
    if (!Next()) return nullptr;
    std::vector<NodePtr> args;
    std::vector<std::size_t> cols;
    while (tok_.kind != Token::Kind::kRParen) {
      cols.push_back(tok_.column);
      NodePtr a = Sum();
      if (!a) return nullptr;
      args.push_back(a);
      if (tok_.kind == Token::Kind::kComma) {
        if (!Next()) return nullptr;
        continue;
      }
      if (tok_.kind != Token::Kind::kRParen) return Error(tok_.column, "expected , or )");
    }
    std::size_t end = tok_.column + 1;
    if (!Next()) return nullptr;
    std::string usage = std::string(info->name) + "(";
    for (std::size_t i = 0; i < info->params.size(); ++i) {
      usage += i ? ", " : "";
      usage += info->params[i] == Type::kDuration ? "5m"
               : info->fn == Fn::kBurnRate        ? "99.9%"
                                                  : "0.01";
    }
    usage += ")";
    if (args.size() != info->params.size()) {
      return Error(name_col, std::string(info->name) + "() takes " +
                                 std::to_string(info->params.size()) + " argument" +
                                 (info->params.size() == 1 ? "" : "s") + ", as in " + usage);
    }
    for (std::size_t i = 0; i < args.size(); ++i) {
      if (args[i]->type != info->params[i]) {
        return Error(cols[i], std::string(info->name) + "() takes " + TypeName(info->params[i]) +
                                  " here, not " + TypeName(args[i]->type) + ", as in " + usage);
      }
      // Windows are written as literals so that every evaluation reads the same windows.
      if (info->params[i] == Type::kDuration) {
        if (args[i]->kind != Node::Kind::kDuration || args[i]->number <= 0) {
          return Error(cols[i], "the window must be a duration such as 5m");
        }
        longest_ = std::max(longest_, core::Duration(static_cast<std::int64_t>(args[i]->number)));
      }
    }
    if (info->fn == Fn::kSequentialWorseThanBaseline &&
        (args[0]->kind != Node::Kind::kNumber || args[0]->number <= 0 || args[0]->number >= 1)) {
      return Error(cols[0],
                   "the false-rollback rate must be a number between 0 and 1 such as 0.01 or 1%");
    }
    auto n = std::make_shared<Node>();
    n->kind = Node::Kind::kCall;
    n->type = info->result;
    n->fn = info->fn;
    n->baseline = baseline;
    n->name = std::string(text_.substr(start, end - start));
    n->args = std::move(args);
    return n;
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  Token tok_;
  std::string error_;
  std::size_t error_column_ = 0;
  core::Duration longest_{0};
  int depth_ = 0;
};

// A value during evaluation: numbers and durations (ms) may be missing ("no data").
struct Val {
  std::optional<double> num;
  bool b = false;
};

class Evaluator {
 public:
  Evaluator(const SeriesData& series, const SeriesData* baseline, Evaluation& out, bool record)
      : series_(series), baseline_(baseline), out_(out), record_(record) {}

  Val Eval(const Node& n) {
    switch (n.kind) {
      case Node::Kind::kNumber:
      case Node::Kind::kDuration:
        return Val{n.number, false};
      case Node::Kind::kNeg: {
        Val v = Eval(*n.args[0]);
        if (v.num) v.num = -*v.num;
        return v;
      }
      case Node::Kind::kNot:
        return Val{std::nullopt, !Eval(*n.args[0]).b};
      case Node::Kind::kAnd: {
        // Both sides are evaluated, so the alert shows every measured value.
        bool l = Eval(*n.args[0]).b, r = Eval(*n.args[1]).b;
        return Val{std::nullopt, l && r};
      }
      case Node::Kind::kOr: {
        bool l = Eval(*n.args[0]).b, r = Eval(*n.args[1]).b;
        return Val{std::nullopt, l || r};
      }
      case Node::Kind::kArith: {
        Val l = Eval(*n.args[0]), r = Eval(*n.args[1]);
        if (!l.num || !r.num) return Val{};
        double a = *l.num, b = *r.num;
        if (n.code == '+') return Val{a + b};
        if (n.code == '-') return Val{a - b};
        if (n.code == '*') return Val{a * b};
        if (b == 0) {
          out_.no_data = true;
          return Val{};
        }
        return Val{a / b};
      }
      case Node::Kind::kCompare: {
        Val l = Eval(*n.args[0]), r = Eval(*n.args[1]);
        if (!first_compared_) {
          first_compared_ = true;
          out_.value = l.num;
          if (n.args[0]->type == Type::kDuration && l.num) out_.value = *l.num / 1000;
        }
        if (!l.num || !r.num) return Val{std::nullopt, false};
        double a = *l.num, b = *r.num;
        bool res = n.code == '>'   ? a > b
                   : n.code == 'G' ? a >= b
                   : n.code == '<' ? a < b
                   : n.code == 'L' ? a <= b
                   : n.code == '=' ? a == b
                                   : a != b;
        return Val{std::nullopt, res};
      }
      case Node::Kind::kCall:
        return Call(n);
    }
    return Val{};
  }

 private:
  Val Call(const Node& n) {
    const SeriesData* s = n.baseline ? baseline_ : &series_;
    Val v;
    if (n.fn == Fn::kWorseThanBaseline) {
      core::Duration w(static_cast<std::int64_t>(n.args[0]->number));
      std::optional<double> p;
      if (baseline_ != nullptr) {
        auto [mine, theirs] = Compared(w);
        p = WorseProportionPValue(mine.errors, mine.requests, theirs.errors, theirs.requests);
        if (record_) {
          // What the test compared, so an alert can show both sides.
          std::string window =
              n.name.substr(n.name.find('('), n.name.find(',') - n.name.find('(')) + ")";
          Record("baseline.error_rate" + window, theirs.ErrorRate());
          Record("baseline.requests" + window, theirs.requests);
          Record("baseline.errors" + window, theirs.errors);
        }
      }
      if (record_) Record("p_value" + n.name.substr(n.name.find('(')), p);
      double alpha = *Eval(*n.args[1]).num;
      return Val{std::nullopt, p && *p < alpha};
    }
    if (n.fn == Fn::kSequentialWorseThanBaseline) {
      std::optional<double> p;
      if (baseline_ != nullptr) {
        auto [mine, theirs] = ComparedSinceRelease();
        std::optional<core::Duration> age = series_.Age();
        p = SequentialWorsePValue(mine.errors, mine.requests, theirs.errors, theirs.requests,
                                  age.value_or(kSequentialSpan));
        if (record_) {
          Record("baseline.error_rate(release)", theirs.ErrorRate());
          Record("baseline.requests(release)", theirs.requests);
          Record("baseline.errors(release)", theirs.errors);
          Record("error_rate(release)", mine.ErrorRate());
          Record("requests(release)", mine.requests);
          Record("errors(release)", mine.errors);
        }
      }
      if (record_) Record("sequential_p_value(release)", p);
      return Val{std::nullopt, p && *p <= n.args[0]->number};
    }
    if (s != nullptr) {
      if (n.fn == Fn::kAge) {
        auto age = s->Age();
        if (age) v.num = static_cast<double>(age->count());
        Record(n.name, v.num ? std::optional<double>(*v.num / 1000) : std::nullopt);
        return v;
      }
      core::Duration w(static_cast<std::int64_t>(n.args[0]->number));
      WindowCounts c = n.baseline ? Compared(w).second : s->Window(w);
      switch (n.fn) {
        case Fn::kRequests:
          v.num = c.requests;
          break;
        case Fn::kErrors:
          v.num = c.errors;
          break;
        case Fn::kErrorRate:
          v.num = c.ErrorRate();
          break;
        case Fn::kLogLines:
          v.num = c.log_lines;
          break;
        case Fn::kLogErrors:
          v.num = c.error_lines;
          break;
        case Fn::kLogErrorRatio:
          v.num = c.LogErrorRatio();
          break;
        case Fn::kBurnRate: {
          std::optional<double> slo = Eval(*n.args[1]).num;
          if (c.ErrorRate() && slo && *slo < 1) v.num = *c.ErrorRate() / (1 - *slo);
          break;
        }
        default:
          break;
      }
    }
    if (!v.num) out_.no_data = true;
    Record(n.name, v.num);
    return v;
  }

  // The baseline is read over the time both versions were live: a new version born mid-window
  // must not be compared with the baseline's traffic from before it existed (an outage that
  // started since would make the new version look worse).
  core::Duration Overlap(core::Duration w) const {
    std::optional<core::Duration> age = series_.Age();
    if (age) w = std::clamp(*age, core::Duration(1000), w);
    return series_.Exact(w);
  }

  // This version's and the baseline's counts to compare over a window of w. While both serve,
  // over the very same seconds; once the baseline serves no more (the rollout finished), its
  // last window of traffic against this version's window.
  std::pair<WindowCounts, WindowCounts> Compared(core::Duration w) const {
    core::Duration overlap = Overlap(w);
    WindowCounts theirs = overlap.count() > 0 ? baseline_->Window(overlap) : WindowCounts{};
    if (theirs.requests > 0 || theirs.log_lines > 0) return {series_.Window(overlap), theirs};
    std::optional<core::Duration> idle = baseline_->Idle();
    return {series_.Window(w), baseline_->WindowEndingAgo(w, idle.value_or(core::Duration(0)))};
  }

  // For the sequential test: everything since this version was first seen (up to the horizon),
  // over the seconds both versions served; once the baseline serves no more, against at least
  // its last 5 minutes of traffic, so a release that replaced it at once has a baseline to meet.
  std::pair<WindowCounts, WindowCounts> ComparedSinceRelease() const {
    core::Duration w =
        std::clamp(series_.Age().value_or(kSequentialSpan), core::Duration(1000), kSequentialSpan);
    core::Duration overlap = series_.Exact(w);
    WindowCounts theirs = overlap.count() > 0 ? baseline_->Window(overlap) : WindowCounts{};
    if (theirs.requests > 0 || theirs.log_lines > 0) return {series_.Window(overlap), theirs};
    std::optional<core::Duration> idle = baseline_->Idle();
    return {series_.Window(w),
            baseline_->WindowEndingAgo(std::max<core::Duration>(w, std::chrono::minutes(5)),
                                       idle.value_or(core::Duration(0)))};
  }

  void Record(const std::string& name, std::optional<double> value) {
    if (!record_) return;
    for (const Measurement& m : out_.measurements) {
      if (m.name == name) return;
    }
    out_.measurements.push_back(Measurement{name, value});
  }

  const SeriesData& series_;
  const SeriesData* baseline_;
  Evaluation& out_;
  bool record_;
  bool first_compared_ = false;
};

double NormalSurvival(double z) { return 0.5 * std::erfc(z / std::sqrt(2.0)); }

double LogChoose(double n, double k) {
  return std::lgamma(n + 1) - std::lgamma(k + 1) - std::lgamma(n - k + 1);
}

}  // namespace

std::optional<double> SequentialWorsePValue(double e1, double n1, double e2, double n2,
                                            core::Duration age) {
  std::optional<double> p = WorseProportionPValue(e1, n1, e2, n2);
  if (!p) return p;
  // Look t (one a second since the release) may spend alpha / (2 t (1 + ln t)^2); these sum to
  // at most alpha over every t >= 1, so P(any look rejects | the release is no worse) <= alpha,
  // whatever the dependence between looks (a union bound).
  const double t = std::max(1.0, static_cast<double>(age.count()) / 1000.0);
  const double spend = 2 * t * (1 + std::log(t)) * (1 + std::log(t));
  return std::min(1.0, *p * spend);
}

std::optional<double> WorseProportionPValue(double e1, double n1, double e2, double n2) {
  e1 = std::round(e1);
  n1 = std::round(n1);
  e2 = std::round(e2);
  n2 = std::round(n2);
  if (n1 <= 0 || n2 <= 0) return std::nullopt;
  e1 = std::min(e1, n1);
  e2 = std::min(e2, n2);
  const double n = n1 + n2, k = e1 + e2;
  const double expected[] = {n1 * k / n, n1 * (n - k) / n, n2 * k / n, n2 * (n - k) / n};
  bool small = false;
  for (double e : expected) small = small || e < 5;
  if (!small) {
    const double p = k / n;
    const double se = std::sqrt(p * (1 - p) * (1 / n1 + 1 / n2));
    if (se == 0) return 1.0;
    return NormalSurvival((e1 / n1 - e2 / n2) / se);
  }
  // Fisher's exact test: P(X >= e1) for X ~ Hypergeometric(n, k, n1).
  const double hi = std::min(n1, k);
  const double log_total = LogChoose(n, n1);
  double sum = 0;
  for (double x = e1; x <= hi; ++x) {
    sum += std::exp(LogChoose(k, x) + LogChoose(n - k, n1 - x) - log_total);
  }
  return std::min(1.0, sum);
}

core::Result<Expression> Expression::Compile(std::string_view text) {
  Parser parser(text);
  auto root = parser.Parse();
  if (!root) return core::Error{root.error()};
  Expression e;
  e.text_ = std::string(text);
  e.root_ = *root;
  e.longest_ = parser.longest();
  return e;
}

Evaluation Expression::Evaluate(const SeriesData& series, const SeriesData* baseline,
                                bool record) const {
  Evaluation out;
  Evaluator ev(series, baseline, out, record);
  out.result = ev.Eval(*root_).b;
  return out;
}

core::Duration Expression::LongestWindow() const { return longest_; }
const std::string& Expression::text() const { return text_; }

}  // namespace obsgate::rules
