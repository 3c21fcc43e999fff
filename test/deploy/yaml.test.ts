import { describe, expect, it } from "vitest";
import { parseYamlSubset } from "./yaml.js";

describe("the YAML subset reader", () => {
  it("reads block mappings, block sequences, quoted and plain scalars, flow sequences and nulls", () => {
    const source = [
      "# a comment",
      'version: "3.9"',
      "services:",
      "  web:   # trailing comment",
      "    image: nats:2.10-alpine",
      '    command: ["nats-server", "-js", \'it\'\'s\', plain, "a, b ]"]',
      "    environment:",
      '      URL: "postgres://u:${PW:?run make-secrets}@db:5432/x"',
      "      HASH: value#not-a-comment",
      "      SINGLE: 'say ''hi'' # not a comment'",
      '      ESCAPED: "tab\\there \\"quoted\\" back\\\\slash"',
      "    ports:",
      '      - "8051:8051"',
      "      - 50051:50051",
      "    secrets:",
      "      - plain-secret",
      "      - source: key",
      "        target: /run/x.key",
      "      -",
      "        source: nested",
      "    empty_list: []",
      "    empty_map: {}",
      "    depends_on:",
      "    - aligned",
      "volumes:",
      "  data:",
      "  logs:",
    ].join("\n");
    expect(parseYamlSubset(source)).toEqual({
      version: "3.9",
      services: {
        web: {
          image: "nats:2.10-alpine",
          command: ["nats-server", "-js", "it's", "plain", "a, b ]"],
          environment: {
            URL: "postgres://u:${PW:?run make-secrets}@db:5432/x",
            HASH: "value#not-a-comment",
            SINGLE: "say 'hi' # not a comment",
            ESCAPED: 'tab\there "quoted" back\\slash',
          },
          ports: ["8051:8051", "50051:50051"],
          secrets: ["plain-secret", { source: "key", target: "/run/x.key" }, { source: "nested" }],
          empty_list: [],
          empty_map: {},
          depends_on: ["aligned"],
        },
      },
      volumes: { data: null, logs: null },
    });
  });

  it("reads the repository's docker-compose.yml style: a service with a multi-key sequence item", () => {
    const parsed = parseYamlSubset("a:\n  - source: x\n    target: y\n  - source: z\nb: c\n");
    expect(parsed).toEqual({ a: [{ source: "x", target: "y" }, { source: "z" }], b: "c" });
  });

  it.each([
    ["anchors", "a: &x 1\n", /unsupported YAML syntax/],
    ["aliases", "a: *x\n", /unsupported YAML syntax/],
    ["tags", "a: !!str 1\n", /unsupported YAML syntax/],
    ["block scalars", "a: |\n  text\n", /unsupported YAML syntax/],
    ["flow mappings", "a: {b: 1}\n", /flow mappings/],
    ["tabs", "a:\n\tb: 1\n", /tabs/],
    ["duplicate keys", "a: 1\na: 2\n", /duplicate key "a"/],
    ["bad indentation", "a:\n    b: 1\n  c: 2\n", /unexpected indentation/],
    ["multi-line quoted strings", 'a: "one\n  two"\n', /unterminated quoted string/],
    ["text after a quote", 'a: "x" y\n', /text after a quoted string/],
    ["a plain scalar with ': '", "a: b: c\n", /quote it/],
    ["a sequence where a key belongs", "a: 1\n- b\n", /sequence item where a key/],
    ["a top-level sequence", "- a\n", /must be a mapping/],
    ["nested flow sequences", "a: [[1]]\n", /scalars only/],
  ])("rejects %s with the line number", (_name, source, message) => {
    expect(() => parseYamlSubset(source)).toThrow(message);
    expect(() => parseYamlSubset(source)).toThrow(/^line \d+: /);
  });
});
