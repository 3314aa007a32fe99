#include "core/yaml.h"

#include <yaml.h>

#include <cstdio>
#include <cstring>
#include <map>

namespace ec2nc {

namespace {

using NodeP = std::shared_ptr<YamlNode>;

// "line L, column C" of a 0-based libyaml mark.
std::string where(size_t line, size_t column) {
  return "line " + std::to_string(line + 1) + ", column " + std::to_string(column + 1);
}

bool is_utf8_continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// The UTF-8 character at s[i] as libyaml's reader accepts one (shortest form, no
// surrogate, at most U+10FFFF): its length, and its code point in *cp; 0 when the bytes
// there are not one.
size_t utf8_char(const std::string& s, size_t i, unsigned long* cp) {
  const unsigned char c = s[i];
  const size_t n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  unsigned long v = n == 1 ? c : n == 2 ? c & 0x1F : n == 3 ? c & 0x0F : c & 0x07;
  for (size_t k = 1; k < n; ++k) {
    if (!is_utf8_continuation(s[i + k])) return 0;
    v = (v << 6) | (s[i + k] & 0x3F);
  }
  const unsigned long least[] = {0, 0, 0x80, 0x800, 0x10000};
  if (v < least[n] || (v >= 0xD800 && v <= 0xDFFF) || v > 0x10FFFF) return 0;
  *cp = v;
  return n;
}

// The byte where libyaml's character `index` starts (its marks count characters; a
// byte-order mark is not one), or text.size().
size_t byte_of_char(const std::string& text, size_t index) {
  size_t i = text.compare(0, 3, "\xEF\xBB\xBF") == 0 ? 3 : 0;
  for (; i < text.size(); ++i) {
    if (is_utf8_continuation(text[i])) continue;
    if (index-- == 0) return i;
  }
  return text.size();
}

// libyaml's error, as "line L, column C: problem (context at line L, column C)".
std::string libyaml_error(const yaml_parser_t& p, const std::string& text) {
  const std::string problem = p.problem ? p.problem : "cannot parse the YAML";
  if (p.error == YAML_MEMORY_ERROR) return "line 1, column 1: out of memory";
  if (p.error == YAML_READER_ERROR) {
    // The reader reports where in the bytes, not a mark.
    size_t line = 0, column = 0;
    for (size_t i = 0; i < p.problem_offset && i < text.size(); ++i) {
      if (text[i] == '\n') {
        ++line;
        column = 0;
      } else if (!is_utf8_continuation(text[i])) {
        ++column;
      }
    }
    std::string out = where(line, column) + ": " + problem;
    if (p.problem_value != -1) {
      char value[16];
      std::snprintf(value, sizeof value, " (#x%X)", unsigned(p.problem_value));
      out += value;
    }
    return out;
  }
  std::string out = where(p.problem_mark.line, p.problem_mark.column) + ": " + problem;
  const size_t at = byte_of_char(text, p.problem_mark.index);
  if (at < text.size() && text[at] == '\t') out += " (a tab: YAML indents with spaces only)";
  if (p.context) out += " (" + std::string(p.context) + " at " + where(p.context_mark.line, p.context_mark.column) + ")";
  return out;
}

std::string text_of(const yaml_char_t* s) { return s ? reinterpret_cast<const char*>(s) : ""; }

// Builds the tree of the first document from libyaml's events, iteratively: an open
// collection is a frame on a stack, never a frame of the C++ stack.
class Builder {
 public:
  explicit Builder(const std::string& text) : text_(text) {}

  YamlParse run(yaml_parser_t* parser) {
    while (true) {
      yaml_event_t e;
      if (!yaml_parser_parse(parser, &e)) return YamlParse{nullptr, libyaml_error(*parser, text_)};
      const bool ok = event(e);
      // What follows the first document is not read, as netplan (yaml_parser_load once).
      const bool done = e.type == YAML_DOCUMENT_END_EVENT || e.type == YAML_STREAM_END_EVENT;
      yaml_event_delete(&e);
      if (!ok) return YamlParse{nullptr, error_};
      if (done) return YamlParse{root_, ""};
    }
  }

 private:
  // An open collection.
  struct Frame {
    NodeP node;
    yaml_mark_t start;
    std::string anchor;   // registered when the collection is complete
    size_t weight = 1;    // its nodes, each alias counted as a copy of its node
    bool has_key = false;  // Map: `key` waits for its value
    std::string key;
  };
  struct Anchor {
    NodeP node;
    size_t weight;
  };

  const std::string& text_;
  std::vector<Frame> open_;
  std::map<std::string, Anchor> anchors_;
  size_t alias_nodes_ = 0;
  NodeP root_;
  std::string error_;

  bool fail(const yaml_mark_t& m, const std::string& what) {
    error_ = where(m.line, m.column) + ": " + what;
    return false;
  }

  static NodeP make(YamlNode::Kind kind, const yaml_mark_t& m) {
    auto n = std::make_shared<YamlNode>();
    n->kind = kind;
    n->line = int(m.line + 1);
    return n;
  }

  bool event(const yaml_event_t& e) {
    const yaml_mark_t& m = e.start_mark;
    switch (e.type) {
      case YAML_SCALAR_EVENT: {
        NodeP n = make(YamlNode::Kind::Scalar, m);
        n->scalar.assign(reinterpret_cast<const char*>(e.data.scalar.value), e.data.scalar.length);
        n->quoted = e.data.scalar.style != YAML_PLAIN_SCALAR_STYLE || text_of(e.data.scalar.tag) == YAML_STR_TAG;
        const std::string& v = n->scalar;
        if (!n->quoted && (v.empty() || v == "~" || v == "null" || v == "Null" || v == "NULL"))
          n->kind = YamlNode::Kind::Null;
        const std::string anchor = text_of(e.data.scalar.anchor);
        if (!anchor.empty()) {
          if (!anchor_unused(anchor, m)) return false;
          anchors_[anchor] = Anchor{n, 1};
        }
        return add(n, 1, m);
      }
      case YAML_SEQUENCE_START_EVENT:
      case YAML_MAPPING_START_EVENT: {
        if (open_.size() >= size_t(kYamlMaxDepth))
          return fail(m, "collections nested deeper than " + std::to_string(kYamlMaxDepth) + " levels");
        const bool seq = e.type == YAML_SEQUENCE_START_EVENT;
        Frame f;
        f.node = make(seq ? YamlNode::Kind::Seq : YamlNode::Kind::Map, m);
        f.start = m;
        f.anchor = text_of(seq ? e.data.sequence_start.anchor : e.data.mapping_start.anchor);
        if (!f.anchor.empty() && !anchor_unused(f.anchor, m)) return false;
        open_.push_back(std::move(f));
        return true;
      }
      case YAML_SEQUENCE_END_EVENT:
      case YAML_MAPPING_END_EVENT: {
        Frame f = std::move(open_.back());
        open_.pop_back();
        if (!f.anchor.empty()) anchors_[f.anchor] = Anchor{f.node, f.weight};
        return add(f.node, f.weight, f.start);
      }
      case YAML_ALIAS_EVENT: {
        const std::string name = text_of(e.data.alias.anchor);
        auto it = anchors_.find(name);
        if (it == anchors_.end()) {
          for (auto& f : open_)
            if (f.anchor == name) return fail(m, "alias *" + name + " is inside the node it names");
          return fail(m, "alias *" + name + " names no anchor before it");
        }
        alias_nodes_ += it->second.weight;
        if (alias_nodes_ > kYamlMaxAliasNodes)
          return fail(m, "aliases stand for more than " + std::to_string(kYamlMaxAliasNodes) + " nodes");
        return add(it->second.node, it->second.weight, m);
      }
      case YAML_STREAM_END_EVENT:  // no document at all: empty, or only comments
        root_ = make(YamlNode::Kind::Null, m);
        return true;
      default:  // stream and document start and end
        return true;
    }
  }

  // libyaml's loader (netplan's) refuses an anchor defined twice.
  bool anchor_unused(const std::string& name, const yaml_mark_t& m) {
    auto it = anchors_.find(name);
    int first = it != anchors_.end() ? it->second.node->line : 0;
    for (auto& f : open_)
      if (f.anchor == name) first = f.node->line;
    if (first == 0) return true;
    return fail(m, "anchor &" + name + " is defined twice (first at line " + std::to_string(first) + ")");
  }

  // A complete node `n`, which starts at `m`, into the collection open around it (or as
  // the root). Weights stay small: the nodes of the text plus at most kYamlMaxAliasNodes.
  bool add(NodeP n, size_t weight, const yaml_mark_t& m) {
    if (open_.empty()) {
      root_ = std::move(n);
      return true;
    }
    Frame& f = open_.back();
    f.weight += weight;
    if (f.node->kind == YamlNode::Kind::Seq) {
      f.node->seq.push_back(std::move(n));
    } else if (!f.has_key) {
      if (n->kind == YamlNode::Kind::Map || n->kind == YamlNode::Kind::Seq)
        return fail(m, "a mapping key that is not a scalar");
      f.key = n->scalar;
      f.has_key = true;
    } else {
      f.node->map.emplace_back(std::move(f.key), std::move(n));
      f.has_key = false;
    }
    return true;
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
  yaml_parser_t parser;
  if (!yaml_parser_initialize(&parser)) return YamlParse{nullptr, "line 1, column 1: out of memory"};
  yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char*>(text.data()), text.size());
  YamlParse out = Builder(text).run(&parser);
  yaml_parser_delete(&parser);
  return out;
}

bool yaml_bool(const YamlNode& n, bool* value) {
  // netplan's handle_generic_bool compares the text whatever the scalar's style or tag.
  if (n.kind != YamlNode::Kind::Scalar) return false;
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
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = s[i];
    unsigned long cp = 0;
    const size_t n = utf8_char(s, i, &cp);
    if (n == 0) {
      out += char(c);  // not UTF-8: nothing YAML can say (see yaml.h)
      ++i;
      continue;
    }
    i += n;
    char buf[12];
    if (c == '"' || c == '\\') {
      out += '\\';
      out += char(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else if ((cp >= 0x80 && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029 || cp == 0xFFFE || cp == 0xFFFF) {
      // C1 controls and U+FFFE/F libyaml refuses in the text; NEL (U+0085), U+2028 and
      // U+2029 it reads as line breaks.
      std::snprintf(buf, sizeof buf, "\\u%04lx", cp);
      out += buf;
    } else {
      out.append(s, i - n, n);
    }
  }
  return out + "\"";
}

}  // namespace ec2nc
