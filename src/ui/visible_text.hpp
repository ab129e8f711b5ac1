#pragma once
// App-supplied text (names, reasons, URLs, hosts) as the owner is shown it, so that it cannot
// disguise anything: characters that reorder text or show nothing become visible escapes, and a
// host appears both as the Unicode a browser would show and as the punycode it resolves, with the
// registrable domain (from the Public Suffix List) that says who actually owns it.
// Pure functions, no I/O besides reading the Public Suffix List once; thread-safe.

#include <string>
#include <string_view>

namespace ap::ui {

// `text` (UTF-8) with every character that could hide or rearrange what is shown replaced by
// "⟨U+XXXX⟩": bidirectional controls (U+202A-202E, U+2066-2069, U+200E/200F, U+061C), zero-width
// and other invisible or format characters (U+200B-200D, U+2060-2064, U+FEFF, U+00AD, tags
// U+E0000-E007F, fillers), C0/C1 controls and line separators, and variation selectors that do not
// follow a non-ASCII character (the only place they change a glyph), and the fourth and later of a
// run of combining marks that stack (U+0300-036F and the like: a tower of them would draw over
// the lines around the text). Bytes that are not UTF-8 become
// "⟨0xNN⟩". The result still needs HTML escaping.
std::string VisibleText(std::string_view text);

// How VisibleText shows a character it hides: "⟨U+XXXX⟩".
std::string CharacterEscape(char32_t c);

// Whether VisibleText would change `text`.
bool HasHiddenCharacters(std::string_view text);

struct ShownHost {
  bool valid = false;       // a host name IDNA2008 accepts, or an IP address
  std::string unicode;      // as a person reads it (VisibleText applied); the raw text when not valid
  std::string ascii;        // punycode (A-labels), lower case: what is actually resolved
  std::string registrable;  // e.g. "example.co.uk" for "login.example.co.uk"; the host itself for an IP
                            // address or a name that is itself a public suffix
  std::string port;         // as written, empty when none
  bool ip = false;          // an IP address, which has no domain
};

// The host of an absolute http(s) URL, ready to show; valid == false when there is none.
ShownHost HostOfUrl(std::string_view url);

// The same for a bare host name ("bücher.example", "xn--bcher-kva.example", "127.0.0.1").
ShownHost ShowHost(std::string_view host);

// "bücher.example (xn--bcher-kva.example)", or just the ASCII form when both are the same.
std::string HostWords(const ShownHost& host);

}  // namespace ap::ui
