#include "core/yaml.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <stdexcept>

namespace ec2nc {

namespace {

using NodeP = std::shared_ptr<YamlNode>;

struct ParseError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Nesting beyond this is an error, not a deep recursion (the input is not trusted).
constexpr int kMaxDepth = 64;

bool is_space(char c) { return c == ' ' || c == '\t'; }
bool is_break(char c) { return c == '\n' || c == '\0'; }
bool is_blank_or_break(char c) { return is_space(c) || is_break(c); }
bool is_flow_indicator(char c) { return c == ',' || c == '[' || c == ']' || c == '{' || c == '}'; }

// UTF-8 for one code point (escapes in double-quoted scalars).
void append_utf8(std::string& out, unsigned long cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

class Reader {
 public:
  explicit Reader(const std::string& text) : s_(text) {}

  std::shared_ptr<const YamlNode> document() {
    skip_directives();
    NodeP root;
    if (at_document_marker("---")) {
      i_ += 3;
      root = value_here(-1, false, 0);
    } else {
      root = block_node(-1, false, 0);
    }
    // Whatever follows must be the end of this document (a next one is ignored).
    if (skip_to_content()) fail("unexpected content after the document");
    return root;
  }

 private:
  const std::string& s_;
  size_t i_ = 0;
  int line_ = 1;
  size_t line_start_ = 0;
  std::map<std::string, std::shared_ptr<const YamlNode>> anchors_;

  [[noreturn]] void fail(const std::string& what) const {
    throw ParseError("line " + std::to_string(line_) + ": " + what);
  }

  char peek(size_t k = 0) const { return i_ + k < s_.size() ? s_[i_ + k] : '\0'; }
  bool eof() const { return i_ >= s_.size(); }
  int col() const { return int(i_ - line_start_); }
  void bump() {
    if (s_[i_] == '\n') {
      ++line_;
      line_start_ = i_ + 1;
    }
    ++i_;
  }

  NodeP make(YamlNode::Kind k) const {
    auto n = std::make_shared<YamlNode>();
    n->kind = k;
    n->line = line_;
    return n;
  }

  void skip_spaces() {
    while (is_space(peek())) bump();
  }

  // A '#' starts a comment at the start of a line or after white space.
  bool at_comment() const { return peek() == '#' && (i_ == line_start_ || is_space(s_[i_ - 1])); }

  bool at_line_end() const { return is_break(peek()) || at_comment(); }

  void skip_line_rest() {
    while (!eof() && peek() != '\n') bump();
    if (!eof()) bump();
  }

  bool at_document_marker(const char* m) const {
    return col() == 0 && s_.compare(i_, 3, m) == 0 && is_blank_or_break(peek(3));
  }

  // "%YAML" and "%TAG" lines before the document.
  void skip_directives() {
    while (skip_to_content() && peek() == '%' && col() == 0) skip_line_rest();
  }

  // Skips blank lines, comments and indentation up to the next content character.
  // False at the end of the text or of the document ("---" or "..." at column 0).
  bool skip_to_content() {
    while (!eof()) {
      char c = peek();
      if (c == ' ') {
        bump();
      } else if (c == '\t') {
        // A tab may separate tokens, never indent one.
        size_t j = i_;
        while (j < s_.size() && is_space(s_[j])) ++j;
        const bool content_follows = j < s_.size() && s_[j] != '\n' && s_[j] != '#';
        if (content_follows && all_spaces_before()) fail("tab character in indentation");
        bump();
      } else if (c == '\n') {
        bump();
      } else if (at_comment()) {
        skip_line_rest();
      } else {
        if (at_document_marker("---") || at_document_marker("...")) return false;
        return true;
      }
    }
    return false;
  }

  bool all_spaces_before() const {
    for (size_t j = line_start_; j < i_; ++j)
      if (!is_space(s_[j])) return false;
    return true;
  }

  bool at_seq_entry() const { return peek() == '-' && is_blank_or_break(peek(1)); }

  // Whether a block mapping key ("key:", "'key':", "\"key\":") starts here, looking only
  // at this line and consuming nothing.
  bool at_map_key() const {
    size_t j = i_;
    char c = peek();
    if (c == '"' || c == '\'') {
      ++j;
      while (j < s_.size() && s_[j] != '\n') {
        if (c == '"' && s_[j] == '\\') {
          j += 2;
          continue;
        }
        if (s_[j] == c) {
          if (c == '\'' && j + 1 < s_.size() && s_[j + 1] == '\'') {
            j += 2;
            continue;
          }
          break;
        }
        ++j;
      }
      if (j >= s_.size() || s_[j] != c) return false;
      ++j;
      while (j < s_.size() && is_space(s_[j])) ++j;
      return j < s_.size() && s_[j] == ':' && (j + 1 >= s_.size() || is_blank_or_break(s_[j + 1]));
    }
    if (c == '[' || c == '{' || c == '&' || c == '*' || c == '!' || c == '|' || c == '>' || c == '#' || c == '?' ||
        c == '%' || c == '@' || c == '`' || (c == '-' && is_blank_or_break(peek(1))))
      return false;
    for (; j < s_.size() && s_[j] != '\n'; ++j) {
      if (s_[j] == '#' && j > i_ && is_space(s_[j - 1])) return false;
      if (s_[j] == ':' && (j + 1 >= s_.size() || is_blank_or_break(s_[j + 1]))) return true;
    }
    return false;
  }

  // A node in block context that starts on a later line: more indented than its owner
  // (at `owner` for an indentless sequence as a mapping value).
  NodeP block_node(int owner, bool indentless_ok, int depth) {
    if (!skip_to_content()) return make(YamlNode::Kind::Null);
    const int c = col();
    if (indentless_ok && c == owner && at_seq_entry()) return block_seq(c, depth + 1);
    if (c <= owner) return make(YamlNode::Kind::Null);
    std::string anchor;
    properties(&anchor, nullptr);
    NodeP n;
    if (at_line_end()) {
      n = block_node(owner, indentless_ok, depth + 1);
    } else if (at_seq_entry()) {
      n = block_seq(col(), depth + 1);
    } else if (at_map_key()) {
      n = block_map(col(), depth + 1);
    } else {
      n = inline_node(depth + 1);
      skip_spaces();
      if (!at_line_end()) fail("unexpected text after a value");
      skip_line_rest();
    }
    if (!anchor.empty()) anchors_[anchor] = n;
    return n;
  }

  // The value after a mapping's ':' or a sequence's '-' (already consumed); `owner` is
  // the column of the key or of the dash.
  NodeP value_here(int owner, bool map_value, int depth) {
    if (depth > kMaxDepth) fail("nesting too deep");
    skip_spaces();
    std::string anchor;
    bool tagged_str = false;
    properties(&anchor, &tagged_str);
    NodeP n;
    if (at_line_end()) {
      skip_line_rest();
      n = block_node(owner, map_value, depth + 1);
    } else if (at_seq_entry()) {
      if (map_value) fail("a sequence cannot start on the line of its mapping key");
      n = block_seq(col(), depth + 1);
    } else if (at_map_key()) {
      if (map_value) fail("mapping values are not allowed here");
      n = block_map(col(), depth + 1);
    } else {
      n = inline_node(depth + 1);
      skip_spaces();
      if (!at_line_end()) {
        if (peek() == ':') fail("mapping values are not allowed here");
        fail("unexpected text after a value");
      }
      skip_line_rest();
    }
    if (tagged_str && n->kind == YamlNode::Kind::Scalar) n->quoted = true;
    if (!anchor.empty()) anchors_[anchor] = n;
    return n;
  }

  // Anchor ("&name") and tag ("!tag", ignored; "!!str" makes a scalar text) before a node.
  void properties(std::string* anchor, bool* tagged_str) {
    while (true) {
      if (peek() == '&') {
        bump();
        std::string name = word();
        if (name.empty()) fail("an anchor without a name");
        *anchor = name;
      } else if (peek() == '!') {
        std::string tag = word();
        if (tagged_str && tag == "!!str") *tagged_str = true;
      } else {
        return;
      }
      skip_spaces();
    }
  }

  std::string word() {
    std::string w;
    while (!eof() && !is_blank_or_break(peek()) && !is_flow_indicator(peek())) {
      w += peek();
      bump();
    }
    return w;
  }

  NodeP block_map(int indent, int depth) {
    if (depth > kMaxDepth) fail("nesting too deep");
    NodeP m = make(YamlNode::Kind::Map);
    while (true) {
      if (!at_map_key()) {
        if (peek() == '?') fail("complex mapping keys are not supported");
        fail("expected a mapping key");
      }
      std::string key;
      if (peek() == '"' || peek() == '\'') {
        key = quoted(peek() == '"');
      } else {
        while (!(peek() == ':' && is_blank_or_break(peek(1)))) {
          key += peek();
          bump();
        }
        while (!key.empty() && is_space(key.back())) key.pop_back();
      }
      skip_spaces();
      if (peek() != ':') fail("expected ':' after a mapping key");
      bump();
      m->map.emplace_back(key, value_here(indent, true, depth + 1));
      if (!skip_to_content()) break;
      const int c = col();
      if (c < indent) break;
      if (c > indent) fail("unexpected indentation");
      if (at_seq_entry()) fail("a sequence entry where a mapping key was expected");
    }
    return m;
  }

  NodeP block_seq(int indent, int depth) {
    if (depth > kMaxDepth) fail("nesting too deep");
    NodeP s = make(YamlNode::Kind::Seq);
    while (true) {
      bump();  // the '-'
      s->seq.push_back(value_here(indent, false, depth + 1));
      if (!skip_to_content()) break;
      const int c = col();
      if (c < indent) break;
      if (c == indent && !at_seq_entry()) break;  // the next key of the mapping holding an indentless sequence
      if (c > indent) fail("unexpected indentation");
    }
    return s;
  }

  // A node that sits on one line in block context (flow collections may span lines).
  NodeP inline_node(int depth) {
    if (depth > kMaxDepth) fail("nesting too deep");
    char c = peek();
    if (c == '|' || c == '>') fail("block scalars are not supported");
    if (c == '[' || c == '{') return flow_collection(depth + 1);
    if (c == '*') return alias();
    if (c == '"' || c == '\'') {
      NodeP n = make(YamlNode::Kind::Scalar);
      n->scalar = quoted(c == '"');
      n->quoted = true;
      return n;
    }
    if (c == '@' || c == '`') fail("a plain scalar cannot start with '" + std::string(1, c) + "'");
    NodeP n = make(YamlNode::Kind::Scalar);
    std::string v;
    while (!eof() && peek() != '\n' && !at_comment() && !(peek() == ':' && is_blank_or_break(peek(1)))) {
      v += peek();
      bump();
    }
    while (!v.empty() && is_space(v.back())) v.pop_back();
    return plain(n, v);
  }

  NodeP plain(NodeP n, const std::string& v) {
    if (v.empty() || v == "~" || v == "null" || v == "Null" || v == "NULL") {
      n->kind = YamlNode::Kind::Null;
      return n;
    }
    n->scalar = v;
    return n;
  }

  NodeP alias() {
    bump();  // '*'
    std::string name = word();
    auto it = anchors_.find(name);
    if (name.empty() || it == anchors_.end()) fail("alias *" + name + " names no anchor before it");
    return std::const_pointer_cast<YamlNode>(it->second);
  }

  // Skips white space, line breaks and comments inside a flow collection.
  void skip_flow_space() {
    while (!eof()) {
      if (is_space(peek()) || peek() == '\n') bump();
      else if (at_comment()) skip_line_rest();
      else return;
    }
  }

  NodeP flow_node(int depth) {
    if (depth > kMaxDepth) fail("nesting too deep");
    skip_flow_space();
    std::string anchor;
    bool tagged_str = false;
    properties(&anchor, &tagged_str);
    NodeP n;
    char c = peek();
    if (c == '[' || c == '{') {
      n = flow_collection(depth + 1);
    } else if (c == '*') {
      n = alias();
    } else if (c == '"' || c == '\'') {
      n = make(YamlNode::Kind::Scalar);
      n->scalar = quoted(c == '"');
      n->quoted = true;
    } else {
      n = make(YamlNode::Kind::Scalar);
      std::string v;
      while (!eof() && peek() != '\n' && !is_flow_indicator(peek()) && !at_comment() &&
             !(peek() == ':' && (is_blank_or_break(peek(1)) || is_flow_indicator(peek(1))))) {
        v += peek();
        bump();
      }
      while (!v.empty() && is_space(v.back())) v.pop_back();
      n = plain(n, v);
    }
    if (tagged_str && n->kind == YamlNode::Kind::Scalar) n->quoted = true;
    if (!anchor.empty()) anchors_[anchor] = n;
    return n;
  }

  NodeP flow_collection(int depth) {
    if (depth > kMaxDepth) fail("nesting too deep");
    const bool is_seq = peek() == '[';
    const char close = is_seq ? ']' : '}';
    NodeP n = make(is_seq ? YamlNode::Kind::Seq : YamlNode::Kind::Map);
    bump();
    while (true) {
      skip_flow_space();
      if (eof()) fail(std::string("unterminated flow collection (expected '") + close + "')");
      if (peek() == close) {
        bump();
        return n;
      }
      NodeP item = flow_node(depth + 1);
      skip_flow_space();
      if (peek() == ':') {
        // A pair: the value of a flow mapping, or a single-pair mapping inside a flow sequence.
        bump();
        skip_flow_space();
        NodeP value = (peek() == ',' || peek() == close) ? make(YamlNode::Kind::Null) : flow_node(depth + 1);
        if (item->kind == YamlNode::Kind::Map || item->kind == YamlNode::Kind::Seq)
          fail("complex mapping keys are not supported");
        if (is_seq) {
          NodeP pair = make(YamlNode::Kind::Map);
          pair->map.emplace_back(item->scalar, value);
          n->seq.push_back(pair);
        } else {
          n->map.emplace_back(item->scalar, value);
        }
      } else if (is_seq) {
        n->seq.push_back(item);
      } else {
        if (item->kind == YamlNode::Kind::Map || item->kind == YamlNode::Kind::Seq)
          fail("complex mapping keys are not supported");
        n->map.emplace_back(item->scalar, make(YamlNode::Kind::Null));
      }
      skip_flow_space();
      if (eof()) fail(std::string("unterminated flow collection (expected '") + close + "')");
      if (peek() == ',') {
        bump();
        continue;
      }
      if (peek() != close) fail(std::string("expected ',' or '") + close + "' in a flow collection");
    }
  }

  // A quoted scalar, from its opening quote; line breaks inside fold to a space (an empty
  // line to a line break), as YAML says.
  std::string quoted(bool dbl) {
    const char q = dbl ? '"' : '\'';
    const int start_line = line_;
    bump();
    std::string out;
    while (true) {
      if (eof()) {
        line_ = start_line;
        fail("unterminated quoted scalar");
      }
      char c = peek();
      if (c == q) {
        if (!dbl && peek(1) == '\'') {
          out += '\'';
          bump();
          bump();
          continue;
        }
        bump();
        return out;
      }
      if (c == '\n') {
        while (!out.empty() && is_space(out.back())) out.pop_back();
        int breaks = 0;
        while (peek() == '\n' || is_space(peek())) {
          if (peek() == '\n') ++breaks;
          bump();
        }
        out += breaks > 1 ? std::string(breaks - 1, '\n') : std::string(" ");
        continue;
      }
      if (dbl && c == '\\') {
        bump();
        char e = peek();
        if (eof()) continue;
        bump();
        switch (e) {
          case '0': out += '\0'; break;
          case 'a': out += '\a'; break;
          case 'b': out += '\b'; break;
          case 't': case '\t': out += '\t'; break;
          case 'n': out += '\n'; break;
          case 'v': out += '\v'; break;
          case 'f': out += '\f'; break;
          case 'r': out += '\r'; break;
          case 'e': out += '\x1b'; break;
          case ' ': out += ' '; break;
          case '"': out += '"'; break;
          case '/': out += '/'; break;
          case '\\': out += '\\'; break;
          case '\n':  // an escaped line break: the next line continues this one
            while (is_space(peek())) bump();
            break;
          case 'x': case 'u': case 'U': {
            int digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
            unsigned long cp = 0;
            for (int k = 0; k < digits; ++k) {
              char h = peek();
              int v = (h >= '0' && h <= '9') ? h - '0' : (h >= 'a' && h <= 'f') ? h - 'a' + 10
                                                        : (h >= 'A' && h <= 'F') ? h - 'A' + 10 : -1;
              if (v < 0) fail("bad escape in a double-quoted scalar");
              cp = cp * 16 + unsigned(v);
              bump();
            }
            if (cp > 0x10FFFF) fail("bad escape in a double-quoted scalar");
            append_utf8(out, cp);
            break;
          }
          default: fail(std::string("unknown escape \\") + e + " in a double-quoted scalar");
        }
        continue;
      }
      out += c;
      bump();
    }
  }
};

}  // namespace

const YamlNode* YamlNode::get(const std::string& key) const {
  if (kind != Kind::Map) return nullptr;
  for (auto it = map.rbegin(); it != map.rend(); ++it)
    if (it->first == key) return it->second.get();
  return nullptr;
}

YamlParse parse_yaml(const std::string& text) {
  // Line breaks as "\n" only, no byte-order mark: what the reader expects.
  std::string t;
  t.reserve(text.size());
  size_t start = text.compare(0, 3, "\xEF\xBB\xBF") == 0 ? 3 : 0;
  for (size_t k = start; k < text.size(); ++k) {
    if (text[k] == '\r' && k + 1 < text.size() && text[k + 1] == '\n') continue;
    if (text[k] == '\0')  // "line N: what", as every other error (yaml.h)
      return YamlParse{nullptr, "line " + std::to_string(1 + std::count(text.begin(), text.begin() + long(k), '\n')) +
                                    ": NUL byte in the text"};
    t += text[k];
  }
  YamlParse out;
  try {
    Reader r(t);
    out.root = r.document();
  } catch (const ParseError& e) {
    out.root = nullptr;
    out.error = e.what();
  }
  return out;
}

bool yaml_bool(const YamlNode& n, bool* value) {
  if (n.kind != YamlNode::Kind::Scalar || n.quoted) return false;
  std::string v;
  for (char c : n.scalar) v += char(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  if (v == "true" || v == "yes" || v == "on" || v == "y") {
    *value = true;
    return true;
  }
  if (v == "false" || v == "no" || v == "off" || v == "n") {
    *value = false;
    return true;
  }
  return false;
}

std::string yaml_quote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += char(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += char(c);
    }
  }
  return out + "\"";
}

}  // namespace ec2nc
