"""Log replay: read loghub-format files, mine templates as the monitor does, detect and score.

``formats`` (the header table), ``reader`` (streaming, malformed lines counted), ``parsing``
(drain3 mining and grouping/parsing accuracy), ``windows`` and ``detectors`` (template-count
windows, IsolationForest/LOF/OCSVM/PCA), ``deeplog`` (next-template LSTM, torch), ``scoring``,
``report``, and ``export`` (the twin's own lines written in these formats with labels).
"""
