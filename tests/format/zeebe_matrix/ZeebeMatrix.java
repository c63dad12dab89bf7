// Driver for generate.py: builds Zeebe's own manifest and partition-metadata records from the
// values of one case and prints the bytes Zeebe's ObjectMapper settings write for them.
//
// This file is ours; it only calls Zeebe's classes. Zeebe's and Jackson's sources are fetched and
// compiled outside this repository (see generate.py and ../shared/zeebe-java/README.md) and are
// never committed. It reads its classes reflectively, so that one driver fits every variant
// (descriptor with or without firstLogPosition, identifier with or without zone, metadata file
// with or without sequenceNumber). Run: java -cp <variant classpath> ZeebeMatrix.java
//
// Requests, one JSON object per stdin line; one JSON answer per line on stdout:
//   {"op":"manifest","form":"common"|"s3"|"s3-decimal","status":..,"id":{..},"descriptor":{..}|null,
//    "snapshot":{name: compression|null}|null,"segments":{..}|null,"createdAt":..,"modifiedAt":..,
//    "failureReason":..|null}
//   {"op":"metadata","manifest":{..}}        BackupMetadataManifest (metadata/{p}/metadata.json)
//   {"op":"metadata-version","manifest":{..}} BackupMetadata (the record with a "version" field)
//   {"op":"decode","form":..,"b64":..}        what Zeebe reads from the bytes and writes back
//   {"op":"describe"}                         the record components of this variant

import static com.fasterxml.jackson.databind.SerializationFeature.WRITE_DATES_AS_TIMESTAMPS;

import com.fasterxml.jackson.annotation.JsonInclude.Include;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.datatype.jdk8.Jdk8Module;
import com.fasterxml.jackson.datatype.jsr310.JavaTimeModule;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.lang.reflect.Method;
import java.lang.reflect.RecordComponent;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;

public final class ZeebeMatrix {
  // GCS, Azure and filesystem ManifestManager: the common form
  static final ObjectMapper COMMON =
      new ObjectMapper()
          .registerModule(new Jdk8Module())
          .registerModule(new JavaTimeModule())
          .disable(WRITE_DATES_AS_TIMESTAMPS)
          .setSerializationInclusion(Include.NON_ABSENT);
  // S3BackupStore.MAPPER of the 8.9+ store (ISO dates) and BackupMetadataCodec.MAPPER
  static final ObjectMapper S3 =
      new ObjectMapper()
          .registerModule(new Jdk8Module())
          .registerModule(new JavaTimeModule())
          .disable(WRITE_DATES_AS_TIMESTAMPS);
  // S3BackupStore.MAPPER of the 8.2-8.8 store (dates as decimal epoch seconds)
  static final ObjectMapper S3_DECIMAL =
      new ObjectMapper().registerModule(new Jdk8Module()).registerModule(new JavaTimeModule());
  static final ObjectMapper JSON = new ObjectMapper();

  static final String COMMON_PKG = "io.camunda.zeebe.backup.common.";
  static final String S3_PKG = "io.camunda.zeebe.backup.s3.manifest.";

  public static void main(final String[] args) throws Exception {
    final var out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
    final var in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    String line;
    while ((line = in.readLine()) != null) {
      if (line.isBlank()) {
        continue;
      }
      final JsonNode request = JSON.readTree(line);
      ObjectNode answer;
      try {
        answer = answer(request);
      } catch (final Exception e) {
        answer = JSON.createObjectNode();
        answer.put("ok", false);
        answer.put("error", e.getClass().getSimpleName() + ": " + firstLine(e));
      }
      out.println(JSON.writeValueAsString(answer));
    }
  }

  static String firstLine(final Throwable e) {
    Throwable t = e;
    while (t.getCause() != null && t.getMessage() == null) {
      t = t.getCause();
    }
    return String.valueOf(t.getMessage()).lines().findFirst().orElse("");
  }

  static ObjectNode answer(final JsonNode request) throws Exception {
    final String op = request.get("op").asText();
    return switch (op) {
      case "manifest" -> encoded(request.get("form").asText(), manifest(request));
      case "metadata" -> encoded("metadata", metadata("BackupMetadataManifest", request));
      case "metadata-version" -> encoded("metadata-version", metadata("BackupMetadata", request));
      case "decode" -> decode(request);
      case "describe" -> describe();
      default -> throw new IllegalArgumentException("unknown op " + op);
    };
  }

  // ---------- reflection over record components ----------

  static Class<?> type(final String name) throws ClassNotFoundException {
    return Class.forName(name);
  }

  static Object build(final Class<?> recordType, final Map<String, Object> values)
      throws Exception {
    final RecordComponent[] components = recordType.getRecordComponents();
    final Class<?>[] types = new Class<?>[components.length];
    final Object[] args = new Object[components.length];
    final Set<String> unused = new HashSet<>(values.keySet());
    for (int i = 0; i < components.length; i++) {
      final String name = components[i].getName();
      types[i] = components[i].getType();
      if (!values.containsKey(name)) {
        throw new IllegalArgumentException(
            "no value for " + recordType.getSimpleName() + "." + name);
      }
      args[i] = values.get(name);
      unused.remove(name);
    }
    if (!unused.isEmpty()) {
      throw new IllegalArgumentException(
          recordType.getSimpleName() + " of this variant has no " + unused);
    }
    return recordType.getDeclaredConstructor(types).newInstance(args);
  }

  static Class<?> componentType(final Class<?> recordType, final String name) {
    for (final RecordComponent c : recordType.getRecordComponents()) {
      if (c.getName().equals(name)) {
        return c.getType();
      }
    }
    throw new IllegalArgumentException(recordType.getSimpleName() + " has no " + name);
  }

  /** The values of a JSON object converted to the Java types of the record's components. */
  static Map<String, Object> values(final Class<?> recordType, final JsonNode json)
      throws Exception {
    final Map<String, Object> values = new LinkedHashMap<>();
    final Iterator<Map.Entry<String, JsonNode>> fields = json.fields();
    while (fields.hasNext()) {
      final Map.Entry<String, JsonNode> field = fields.next();
      final Class<?> type = componentType(recordType, field.getKey());
      values.put(field.getKey(), convert(type, field.getValue()));
    }
    return values;
  }

  @SuppressWarnings({"unchecked", "rawtypes"})
  static Object convert(final Class<?> type, final JsonNode value) throws Exception {
    if (type == Optional.class) {
      return value.isNull() ? Optional.empty() : Optional.of(value.asText());
    }
    if (type == OptionalLong.class) {
      return value.isNull() ? OptionalLong.empty() : OptionalLong.of(value.longValue());
    }
    if (type == long.class) {
      return value.longValue();
    }
    if (type == int.class) {
      return value.intValue();
    }
    if (value.isNull()) {
      return null;
    }
    if (type == String.class) {
      return value.asText();
    }
    if (type == Instant.class) {
      return Instant.parse(value.asText());
    }
    if (type.isEnum()) {
      return Enum.valueOf((Class<Enum>) type, value.asText());
    }
    throw new IllegalArgumentException("cannot convert to " + type.getName());
  }

  // ---------- manifests ----------

  static Object identifier(final JsonNode id) throws Exception {
    final Class<?> type = type(COMMON_PKG + "BackupIdentifierImpl");
    return build(type, values(type, id));
  }

  static Object descriptor(final JsonNode descriptor) throws Exception {
    if (descriptor == null || descriptor.isNull()) {
      return null;
    }
    final Class<?> type = type(COMMON_PKG + "BackupDescriptorImpl");
    return build(type, values(type, descriptor));
  }

  static Object manifest(final JsonNode request) throws Exception {
    final String form = request.get("form").asText();
    final String status = request.get("status").asText();
    final Object id = identifier(request.get("id"));
    final Object descriptor = descriptor(request.get("descriptor"));
    final Instant createdAt = Instant.parse(request.get("createdAt").asText());
    final Instant modifiedAt = Instant.parse(request.get("modifiedAt").asText());
    final JsonNode reason = request.get("failureReason");
    final String failureReason = reason == null || reason.isNull() ? null : reason.asText();
    if (form.equals("common")) {
      return commonManifest(request, status, id, descriptor, createdAt, modifiedAt, failureReason);
    }
    return s3Manifest(request, status, id, descriptor, createdAt, modifiedAt, failureReason);
  }

  static Object commonManifest(
      final JsonNode request,
      final String status,
      final Object id,
      final Object descriptor,
      final Instant createdAt,
      final Instant modifiedAt,
      final String failureReason)
      throws Exception {
    final Class<?> fileSet = type(COMMON_PKG + "FileSet");
    final Class<?> namedFile = type(COMMON_PKG + "FileSet$NamedFile");
    final Class<?> statusCode = type(COMMON_PKG + "Manifest$StatusCode");
    final Map<String, Object> v = new LinkedHashMap<>();
    v.put("id", id);
    v.put("descriptor", descriptor);
    v.put("statusCode", Enum.valueOf(statusCode.asSubclass(Enum.class), status));
    v.put("snapshot", commonFiles(request.get("snapshot"), fileSet, namedFile));
    v.put("segments", commonFiles(request.get("segments"), fileSet, namedFile));
    v.put("createdAt", createdAt);
    v.put("modifiedAt", modifiedAt);
    v.put("failureReason", failureReason);
    return build(type(COMMON_PKG + "ManifestImpl"), v);
  }

  static Object commonFiles(final JsonNode files, final Class<?> fileSet, final Class<?> namedFile)
      throws Exception {
    if (files == null || files.isNull()) {
      return null;
    }
    final List<Object> named = new ArrayList<>();
    final Iterator<String> names = files.fieldNames();
    while (names.hasNext()) {
      named.add(namedFile.getDeclaredConstructor(String.class).newInstance(names.next()));
    }
    return fileSet.getDeclaredConstructor(List.class).newInstance(named);
  }

  static Object s3Manifest(
      final JsonNode request,
      final String status,
      final Object id,
      final Object descriptor,
      final Instant createdAt,
      final Instant modifiedAt,
      final String failureReason)
      throws Exception {
    final Object snapshot = s3Files(request.get("snapshot"), request.path("fileOrder").asText());
    final Object segments = s3Files(request.get("segments"), request.path("fileOrder").asText());
    final Map<String, Object> v = new LinkedHashMap<>();
    v.put("id", id);
    final String record;
    switch (status) {
      case "IN_PROGRESS" -> record = "InProgressBackupManifest";
      case "COMPLETED" -> record = "CompletedBackupManifest";
      case "FAILED" -> {
        record = "FailedBackupManifest";
        v.put("failureReason", failureReason);
      }
      case "DELETED" -> record = "DeletedBackupManifest";
      default -> throw new IllegalArgumentException(status);
    }
    final boolean optionalDescriptor = status.equals("FAILED") || status.equals("DELETED");
    v.put("descriptor", optionalDescriptor ? Optional.ofNullable(descriptor) : descriptor);
    v.put("snapshotFiles", snapshot);
    v.put("segmentFiles", segments);
    v.put("createdAt", createdAt);
    v.put("modifiedAt", modifiedAt);
    return build(type(S3_PKG + record), v);
  }

  /**
   * The S3 file set. "hash": the map Zeebe's Collectors.toMap builds (HashMap order, what
   * FileSet.withoutMetadata and the file set manager write); "given": the order of the request.
   */
  static Object s3Files(final JsonNode files, final String order) throws Exception {
    final Class<?> fileSet = type(S3_PKG + "FileSet");
    final Class<?> metadata = type(S3_PKG + "FileSet$FileMetadata");
    final Map<String, Object> map = order.equals("given") ? new LinkedHashMap<>() : new HashMap<>();
    if (files != null && !files.isNull()) {
      final Iterator<Map.Entry<String, JsonNode>> entries = files.fields();
      while (entries.hasNext()) {
        final Map.Entry<String, JsonNode> entry = entries.next();
        final Optional<String> compression =
            entry.getValue().isNull() ? Optional.empty() : Optional.of(entry.getValue().asText());
        map.put(entry.getKey(), metadata.getDeclaredConstructor(Optional.class).newInstance(compression));
      }
    }
    return fileSet.getDeclaredConstructor(Map.class).newInstance(map);
  }

  // ---------- partition metadata ----------

  static Object metadata(final String record, final JsonNode request) throws Exception {
    final Class<?> type = type(COMMON_PKG + record);
    final Class<?> entry = type(COMMON_PKG + record + "$CheckpointEntry");
    final Class<?> range = type(COMMON_PKG + record + "$RangeEntry");
    final JsonNode json = request.get("manifest");
    final Map<String, Object> v = new LinkedHashMap<>();
    final Iterator<Map.Entry<String, JsonNode>> fields = json.fields();
    while (fields.hasNext()) {
      final Map.Entry<String, JsonNode> field = fields.next();
      switch (field.getKey()) {
        case "checkpoints" -> v.put("checkpoints", list(entry, field.getValue()));
        case "ranges" -> v.put("ranges", list(range, field.getValue()));
        default ->
            v.put(field.getKey(), convert(componentType(type, field.getKey()), field.getValue()));
      }
    }
    return build(type, v);
  }

  static List<Object> list(final Class<?> recordType, final JsonNode items) throws Exception {
    final List<Object> list = new ArrayList<>();
    for (final JsonNode item : items) {
      list.add(build(recordType, values(recordType, item)));
    }
    return list;
  }

  // ---------- bytes ----------

  static ObjectMapper mapper(final String form) {
    return switch (form) {
      case "common" -> COMMON;
      case "s3", "metadata", "metadata-version" -> S3;
      case "s3-decimal" -> S3_DECIMAL;
      default -> throw new IllegalArgumentException("unknown form " + form);
    };
  }

  static Class<?> readType(final String form) throws ClassNotFoundException {
    return switch (form) {
      case "common" -> type(COMMON_PKG + "Manifest");
      case "s3", "s3-decimal" -> type(S3_PKG + "ValidBackupManifest");
      case "metadata" -> type(COMMON_PKG + "BackupMetadataManifest");
      case "metadata-version" -> type(COMMON_PKG + "BackupMetadata");
      default -> throw new IllegalArgumentException("unknown form " + form);
    };
  }

  static ObjectNode encoded(final String form, final Object value) throws Exception {
    final ObjectMapper mapper = mapper(form);
    final byte[] bytes = mapper.writeValueAsBytes(value);
    final ObjectNode answer = JSON.createObjectNode();
    answer.put("ok", true);
    answer.put("b64", Base64.getEncoder().encodeToString(bytes));
    // Zeebe reads its own bytes back and writes them again
    final Object back = mapper.readValue(bytes, readType(form));
    answer.put("roundtrip_equal", Arrays.equals(bytes, mapper.writeValueAsBytes(back)));
    return answer;
  }

  static ObjectNode decode(final JsonNode request) throws Exception {
    final String form = request.get("form").asText();
    final byte[] bytes = Base64.getDecoder().decode(request.get("b64").asText());
    final ObjectMapper mapper = mapper(form);
    final ObjectNode answer = JSON.createObjectNode();
    try {
      final Object value = mapper.readValue(bytes, readType(form));
      answer.put("ok", true);
      answer.put("reencoded_b64", Base64.getEncoder().encodeToString(mapper.writeValueAsBytes(value)));
      answer.set("read", JSON.valueToTree(plain(value)));
    } catch (final Exception e) {
      answer.put("ok", false);
      answer.put("error", e.getClass().getSimpleName() + ": " + firstLine(e));
    }
    return answer;
  }

  /** A record as plain JSON values (optionals unwrapped, instants as text), to show what was read. */
  static Object plain(final Object value) throws Exception {
    if (value == null) {
      return null;
    }
    if (value instanceof Optional<?> o) {
      return o.isPresent() ? plain(o.get()) : null;
    }
    if (value instanceof OptionalLong o) {
      return o.isPresent() ? o.getAsLong() : null;
    }
    if (value instanceof Instant || value instanceof Enum<?>) {
      return value.toString();
    }
    if (value instanceof Map<?, ?> m) {
      final Map<String, Object> out = new LinkedHashMap<>();
      for (final Map.Entry<?, ?> e : m.entrySet()) {
        out.put(String.valueOf(e.getKey()), plain(e.getValue()));
      }
      return out;
    }
    if (value instanceof List<?> l) {
      final List<Object> out = new ArrayList<>();
      for (final Object o : l) {
        out.add(plain(o));
      }
      return out;
    }
    if (value.getClass().isRecord()) {
      final Map<String, Object> out = new LinkedHashMap<>();
      out.put("@record", value.getClass().getSimpleName());
      for (final RecordComponent c : value.getClass().getRecordComponents()) {
        final Method accessor = c.getAccessor();
        accessor.setAccessible(true);
        out.put(c.getName(), plain(accessor.invoke(value)));
      }
      return out;
    }
    return value;
  }

  static ObjectNode describe() throws Exception {
    final ObjectNode answer = JSON.createObjectNode();
    answer.put("ok", true);
    for (final String name :
        List.of(
            "BackupDescriptorImpl",
            "BackupIdentifierImpl",
            "BackupMetadataManifest",
            "BackupMetadataManifest$CheckpointEntry")) {
      final List<String> components = new ArrayList<>();
      for (final RecordComponent c : type(COMMON_PKG + name).getRecordComponents()) {
        components.add(c.getType().getSimpleName() + " " + c.getName());
      }
      answer.set(name, JSON.valueToTree(components));
    }
    return answer;
  }
}
