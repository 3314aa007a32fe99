// A small YAML reader for netplan's files: text -> a tree of mappings, sequences and
// scalars. Pure; fed text, never paths. It reads what cloud-init, netplan and people
// write in /etc/netplan: block and flow collections, plain and quoted scalars,
// comments, anchors and aliases (cloud-init's `dhcp4-overrides: &id001` ...
// `dhcp6-overrides: *id001`), tags (ignored), one document. What it does not read
// (block scalars `|` `>`, plain scalars over several lines, complex keys) is an error
// naming the line, never a guess: the caller then asks netplan itself (`netplan get`).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace ec2nc {

/// One node of a YAML document.
struct YamlNode {
  enum class Kind { Null, Scalar, Map, Seq };
  Kind kind = Kind::Null;
  std::string scalar;   ///< Scalar: the value, quotes and escapes resolved.
  bool quoted = false;  ///< Scalar: it was quoted (so "true" is text, not a boolean).
  /// Map: entries in document order (a repeated key keeps both; get() finds the last).
  std::vector<std::pair<std::string, std::shared_ptr<const YamlNode>>> map;
  std::vector<std::shared_ptr<const YamlNode>> seq;  ///< Seq: items.
  int line = 0;         ///< 1-based line where the node starts.

  /// Map: the value of `key` (the last one if repeated), or nullptr.
  const YamlNode* get(const std::string& key) const;
  bool is_map() const { return kind == Kind::Map; }
  bool is_seq() const { return kind == Kind::Seq; }
  bool is_scalar() const { return kind == Kind::Scalar; }
};

/// Outcome of parse_yaml.
struct YamlParse {
  std::shared_ptr<const YamlNode> root;  ///< Null node for an empty document; nullptr on error.
  std::string error;                     ///< "line N: what" when root is nullptr.
};

/// Parses the first document of `text`.
YamlParse parse_yaml(const std::string& text);

/// A YAML 1.1 boolean as netplan reads one (true/false, yes/no, on/off, y/n, any case) from
/// an unquoted scalar. False when `n` is not one; then *value is untouched.
bool yaml_bool(const YamlNode& n, bool* value);

/// `s` as a YAML double-quoted scalar (safe for any text: escapes quotes, backslashes and
/// control characters).
std::string yaml_quote(const std::string& s);

}  // namespace ec2nc
