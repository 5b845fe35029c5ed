// Text documents from files: reading a file whole and splitting it into documents at separator lines
// (fortune files separate entries by lines holding a single '%').
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace trident {

// The file's bytes. Throws trident::Error naming the path and the errno text.
std::string read_text_file(const std::string& path);

// Splits `text` at lines that are exactly `separator_line` (a trailing '\r' is ignored, for CRLF
// files). A document is the text between two separator lines without the line break that ends its
// last line; documents holding only whitespace are dropped. The text before the first separator and
// after the last one are documents too.
//   split_documents("a\nb\n%\nc\n%\n", "%") == {"a\nb", "c"}
std::vector<std::string> split_documents(std::string_view text, std::string_view separator_line);

}  // namespace trident
