import Testing
@testable import WardenPluginKit

@Suite("JSON Schema validation")
struct JSONSchemaTests {
    let schema = try! JSONSchema([
        "type": "object",
        "properties": [
            "url": ["type": "string", "pattern": "^https?://", "maxLength": 30],
            "timeout": ["type": "integer", "default": 5, "minimum": 1, "maximum": 60],
            "ratio": ["type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1],
            "mode": ["type": "string", "enum": ["rolling", "recreate"], "default": "rolling"],
            "version": ["const": 2],
            "tags": ["type": "array", "items": ["type": "string", "minLength": 2], "minItems": 1, "maxItems": 3],
            "status": ["type": ["integer", "array"], "items": ["type": "integer"]],
            "nullable": ["type": ["string", "null"]],
            "password": ["type": "string", "writeOnly": true],
            "labels": ["type": "object", "additionalProperties": ["type": "string"]],
        ],
        "required": ["url"],
        "additionalProperties": false,
    ])

    func violations(_ value: JSONValue) -> [String] {
        switch schema.validate(value) {
        case .success: return []
        case .failure(let error): return error.violations.map(\.description)
        }
    }

    @Test func appliesDefaultsAndKeepsGivenValues() throws {
        let result = try schema.validate(["url": "http://x", "timeout": 7]).get()
        #expect(result["timeout"] == 7)
        #expect(result["mode"] == "rolling")
        #expect(result["url"] == "http://x")
        #expect(result["ratio"] == nil)
    }

    @Test func wrongTypeNamesThePointerAndTheValue() {
        #expect(violations(["url": "http://x", "timeout": "abc"]) == [#"/timeout: expected integer, got "abc""#])
    }

    @Test func reportsEveryViolationAtOnce() {
        let found = violations([
            "timeout": 0, "ratio": 1, "mode": "big", "version": 3, "tags": ["a"], "extra": true,
        ])
        #expect(found.contains("/url: required parameter is missing"))
        #expect(found.contains("/timeout: expected ≥ 1, got 0"))
        #expect(found.contains("/ratio: expected < 1, got 1"))
        #expect(found.contains(#"/mode: expected one of "rolling", "recreate", got "big""#))
        #expect(found.contains("/version: expected 2, got 3"))
        #expect(found.contains("/tags/0: expected at least 2 characters, got 1"))
        #expect(found.contains { $0.hasPrefix("/extra: unknown parameter") })
        #expect(found.count == 7)
    }

    @Test func boundsLengthsPatternsAndItemCounts() {
        #expect(violations(["url": "ftp://x"]) == [#"/url: "ftp://x" does not match pattern ^https?://"#])
        #expect(violations(["url": .string("http://" + String(repeating: "a", count: 30))]) == ["/url: expected at most 30 characters, got 37"])
        #expect(violations(["url": "http://x", "timeout": 61]) == ["/timeout: expected ≤ 60, got 61"])
        #expect(violations(["url": "http://x", "ratio": 0]) == ["/ratio: expected > 0, got 0"])
        #expect(violations(["url": "http://x", "tags": []]) == ["/tags: expected at least 1 items, got 0"])
        #expect(violations(["url": "http://x", "tags": ["aa", "bb", "cc", "dd"]]) == ["/tags: expected at most 3 items, got 4"])
    }

    @Test func unionsNullAndIntegralDoubles() {
        #expect(violations(["url": "http://x", "status": 200]).isEmpty)
        #expect(violations(["url": "http://x", "status": [200, 301]]).isEmpty)
        #expect(violations(["url": "http://x", "status": "200"]) == [#"/status: expected integer or array, got "200""#])
        #expect(violations(["url": "http://x", "nullable": nil]).isEmpty)
        #expect(violations(["url": "http://x", "timeout": 5.0]).isEmpty)
        #expect(violations(["url": "http://x", "timeout": 5.5]) == ["/timeout: expected integer, got 5.5"])
    }

    @Test func additionalPropertiesSchemaAndSuggestions() {
        #expect(violations(["url": "http://x", "labels": ["a": "b"]]).isEmpty)
        #expect(violations(["url": "http://x", "labels": ["a": 1]]) == ["/labels/a: expected string, got 1"])
        #expect(violations(["url": "http://x", "timout": 3]) == ["/timout: unknown parameter — did you mean `timeout`?"])
        #expect(violations("nope") == [#"/: expected object, got "nope""#])
    }

    @Test func redactsWriteOnlyValues() {
        let redacted = schema.redact(["url": "http://x", "password": "hunter2"])
        #expect(redacted["password"] == "***")
        #expect(redacted["url"] == "http://x")
        #expect(schema.secretParameters == ["password"])
        #expect(JSONValue.object(["a": ["b": "key=hunter2"]]).redactingOccurrences(of: ["hunter2"]) == ["a": ["b": "key=***"]])
    }

    @Test func findsSecretValuesAtAnyDepth() throws {
        let nested = try JSONSchema([
            "type": "object",
            "properties": [
                "auth": ["type": "object", "properties": ["token": ["type": "string", "writeOnly": true]]],
                "keys": ["type": "array", "items": ["type": "string", "writeOnly": true]],
                "plain": ["type": "string"],
            ],
        ])
        let value: JSONValue = ["auth": ["token": "t0k"], "keys": ["k1", "k2"], "plain": "visible"]
        #expect(Set(nested.secretValues(in: value)) == ["t0k", "k1", "k2"])
        #expect(nested.redact(value) == ["auth": ["token": "***"], "keys": ["***", "***"], "plain": "visible"])

        // Deeper ways in (the schema notes which branches can hold a secret, and looks only
        // there): additionalProperties, and a URL password inside an array of objects.
        let deeper = try JSONSchema([
            "type": "object",
            "properties": [
                "headers": ["type": "object", "additionalProperties": ["type": "string", "writeOnly": true]],
                "targets": ["type": "array", "items": ["type": "object", "properties": ["dsn": ["type": "string", "x-secret-url-password": true]]]],
                "plain": ["type": "object", "properties": ["note": ["type": "string"]]],
            ],
        ])
        let deeperValue: JSONValue = [
            "headers": ["Authorization": "Bearer abc"], "targets": [["dsn": "postgres://u:pw9@h/db"]], "plain": ["note": "visible"],
        ]
        #expect(Set(deeper.secretValues(in: deeperValue)) == ["Bearer abc", "pw9"])
        #expect(try JSONSchema(["type": "object", "properties": ["url": ["type": "string"]]]).secretValues(in: ["url": "http://u:p@h"]).isEmpty)
    }

    @Test func malformedSchemasAreRejectedWithEveryProblem() {
        #expect(throws: SchemaDefinitionError.self) { try JSONSchema(["type": "strng"]) }
        do {
            _ = try JSONSchema([
                "type": "object",
                "properties": [
                    "a": ["type": "integer", "minimum": "one"],
                    "b": ["type": "string", "pattern": "("],
                    "c": ["type": "integer", "default": "five"],
                ],
                "required": "a",
            ])
            Issue.record("expected a definition error")
        } catch {
            #expect(error.problems.count == 4)
            #expect(error.problems.contains("/properties/a: `minimum` must be a number, got string"))
            #expect(error.problems.contains("/properties/b: `pattern` must be a valid regular expression"))
            #expect(error.problems.contains { $0.hasPrefix("/properties/c: `default` is invalid") })
            #expect(error.problems.contains("/: `required` must be an array of strings"))
        }
    }

    @Test func coercesCommandLineArguments() throws {
        #expect(schema.properties["timeout"]!.coerce(argument: "10") == 10)
        #expect(schema.properties["timeout"]!.coerce(argument: "abc") == "abc")
        #expect(schema.properties["ratio"]!.coerce(argument: "0.5") == 0.5)
        #expect(schema.properties["status"]!.coerce(argument: "[200,301]") == [200, 301])
        #expect(schema.properties["status"]!.coerce(argument: "204") == 204)
        #expect(schema.properties["url"]!.coerce(argument: "42") == "42")
        let boolean = try JSONSchema(["type": "boolean"])
        #expect(boolean.coerce(argument: "yes") == true)
    }
}

@Suite("JSON values and results")
struct JSONValueTests {
    @Test func roundTripsWithStableKeyOrder() throws {
        let text = #"{"b":[1,2.5,"x",null,true],"a":{"z":1,"y":false}}"#
        let value = try JSONValue.parse(text)
        #expect(value.jsonText() == #"{"a":{"y":false,"z":1},"b":[1,2.5,"x",null,true]}"#)
        #expect(value["b"]?.arrayValue?[0] == .int(1))
        #expect(value["b"]?.arrayValue?[1] == .double(2.5))
    }

    @Test func malformedTextThrows() {
        #expect(throws: JSONTextError.self) { try JSONValue.parse("{nope") }
    }

    @Test func resultKeepsTheSeedsWireShape() throws {
        let result = PluginResult.failure("refused", message: "db refused", retry: true)
        // The seed's five keys, plus the severity of an unsuccessful result (critical unless it says).
        #expect(result.json.jsonText() == #"{"data":null,"error":"refused","message":"db refused","retry":true,"severity":"critical","success":false}"#)
        #expect(PluginResult.ok(message: "fine").json["severity"] == .null)
        let warning = try PluginResult(json: ["success": false, "severity": "warning"])
        #expect(warning.effectiveSeverity == .warning)
        #expect(throws: PluginResultDecodingError.self) { try PluginResult(json: ["success": false, "severity": "bad"]) }
        let decoded = try PluginResult(json: .object(["success": true, "data": ["n": 1]]))
        #expect(decoded == PluginResult(success: true, data: ["n": 1], message: "", error: nil, retry: false))
        #expect(throws: PluginResultDecodingError.self) { try PluginResult(json: ["data": 1]) }
        #expect(throws: PluginResultDecodingError.self) { try PluginResult(json: ["success": true, "retry": "yes"]) }
    }
}

/// Where Warden disagreed with JSON Schema (draft 2020-12) before: lengths, big integers,
/// boolean and empty schemas. Each case is the reference's answer.
@Suite("JSON Schema reference conformance")
struct JSONSchemaConformanceTests {
    func valid(_ schema: JSONValue, _ value: JSONValue) throws -> Bool {
        if case .success = try JSONSchema(schema).validate(value) { return true }
        return false
    }

    @Test func lengthsCountCodePoints() throws {
        #expect(try !valid(["maxLength": 1], "e\u{301}"), "e + combining acute is two code points")
        #expect(try !valid(["maxLength": 1], "\r\n"), "CR LF is two code points (one Swift Character)")
        #expect(try valid(["minLength": 2], "\r\n"))
        #expect(try valid(["maxLength": 2], "\u{1F4A9}\u{1F4A9}"), "two supplementary-plane code points")
        #expect(try !valid(["const": "é"], "e\u{301}"), "canonically equivalent is not equal: code points differ")
        #expect(try !valid(["enum": ["é"]], "e\u{301}"))
    }

    @Test func integersStayExact() throws {
        #expect(try valid(["type": "integer"], .double(1e19)), "an integral number beyond Int64 is still an integer")
        #expect(try !valid(["type": "integer"], .double(1.5)))
        let big = try JSONValue.parse(#"{"minimum": 9007199254740993}"#)
        #expect(try !valid(big, .int(9_007_199_254_740_992)), "2^53 is below 2^53 + 1")
        #expect(try valid(big, .int(9_007_199_254_740_993)))
        #expect(try !valid(["maximum": .int(Int.max - 1)], .int(Int.max)))
        #expect(try valid(["const": 1], .double(1.0)))
    }

    @Test func booleanAndEmptySchemasAreSchemas() throws {
        #expect(try valid(["properties": ["foo": true]], ["foo": 1]))
        #expect(try !valid(["properties": ["foo": false]], ["foo": 1]))
        #expect(try valid(["properties": ["foo": false]], ["bar": 1]))
        #expect(try !valid(["items": false], [1]))
        #expect(try valid(["items": false], []))
        #expect(try !valid(["enum": []], 1), "an empty enum allows nothing")
        #expect(try !valid(["enum": []], .null))
    }

    @Test func invalidSchemasAreRefused() {
        #expect(throws: SchemaDefinitionError.self) { try JSONSchema(["type": []]) }
        #expect(throws: SchemaDefinitionError.self) { try JSONSchema(["required": ["a", "a"]]) }
        #expect(throws: SchemaDefinitionError.self) { try JSONSchema(["type": ["string", "string"]]) }
        #expect(throws: SchemaDefinitionError.self) { try JSONSchema(["properties": ["a": 5]]) }
    }
}
